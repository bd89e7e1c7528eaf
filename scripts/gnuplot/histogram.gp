# histogram.gp — zero-shot average as clustered bars: one cluster per
# bit-width, one bar per method; PNG (pngcairo) and SVG. Variables:
#   datafile  header "bits <method>..." then one row per bit-width (NaN = missing)
#   outbase, ylab, ttl;  ncols  number of methods
set title ttl
set ylabel ylab
set xlabel 'bit-width'
set grid ytics
set key outside right top
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size 960,540 noenhanced font ",11"
    } else {
        set terminal svg size 960,540 noenhanced font ",11"
    }
    set output outbase.'.'.fmt
    plot for [i=2:ncols+1] datafile using i:xtic(1) title columnheader(i)
    unset output
}
