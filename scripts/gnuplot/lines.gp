# lines.gp — one line per method over the bit-widths (categorical x axis),
# written as PNG (pngcairo) and SVG. `ptqbench report --plots` writes the
# data file and passes, with gnuplot -e:
#   datafile  blocks "xpos value bits low high" separated by two blank lines, one per method
#             (value: seed mean; low/high: mean -+ std over seeds, drawn as error bars)
#   outbase   output path without extension
#   ylab, ttl axis label and title;  logy  1 = log-scale y
#   nblocks   number of methods;  titles  their labels, space-separated;  nbits
set title ttl
set ylabel ylab
set xlabel 'bit-width'
set grid ytics mytics
set key outside right top
if (logy) { set logscale y }
# a log axis spanning less than a decade gets no default labels: five labelled ticks over the data
if (logy) { stats datafile using 2 nooutput; lo = STATS_min; hi = STATS_max }
if (logy && hi / lo < 10) { do for [i=0:4] { v = lo * (hi / lo) ** (i / 4.0); set ytics add (sprintf("%.3g", v) v) } }
set xrange [-0.5:nbits-0.5]
set autoscale yfix
set offsets 0, 0, graph 0.08, graph 0.08
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size 960,540 noenhanced font ",11"
    } else {
        set terminal svg size 960,540 noenhanced font ",11"
    }
    set output outbase.'.'.fmt
    plot for [i=0:nblocks-1] datafile index i using 1:2:4:5:xtic(3) with yerrorlines lw 2 pt 7 ps 1.2 title word(titles, i+1)
    unset output
}
