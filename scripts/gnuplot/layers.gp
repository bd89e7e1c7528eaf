# layers.gp — one line per activation site over the layers (x = layer index),
# log-scale y, PNG (pngcairo) and SVG. `ptqbench stats` writes the data file
# and passes, with gnuplot -e:
#   datafile  blocks "layer value" separated by two blank lines, one per site
#   outbase   output path without extension;  ylab, ttl  axis label and title
#   nblocks   number of sites;  titles  their labels, space-separated
set title ttl
set ylabel ylab
set xlabel 'layer'
set grid ytics mytics
set key outside right top
set logscale y
set xtics 1
set offsets graph 0.03, graph 0.03, graph 0.08, graph 0.08
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size 960,540 noenhanced font ",11"
    } else {
        set terminal svg size 960,540 noenhanced font ",11"
    }
    set output outbase.'.'.fmt
    plot for [i=0:nblocks-1] datafile index i using 1:2 with linespoints lw 2 pt 7 ps 1.2 title word(titles, i+1)
    unset output
}
