# growth.gp — a statistic over training: one line per linear input, x = the
# snapshots (categorical: 10%, 50%, 100% of the steps), log y; PNG (pngcairo)
# and SVG. scripts/zoo_stats.sh writes the data file and passes, with gnuplot -e:
#   datafile  blocks "xpos value label" separated by two blank lines, one per input
#   outbase   output path without extension;  ylab, ttl  axis label and title
#   nblocks   number of inputs;  titles  their labels, space-separated;  nx  snapshots
set title ttl
set ylabel ylab
set xlabel 'training (share of the steps)'
set grid ytics mytics
set key outside right top
set logscale y
set xrange [-0.5:nx-0.5]
set offsets 0, 0, graph 0.08, graph 0.08
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size 960,540 noenhanced font ",11"
    } else {
        set terminal svg size 960,540 noenhanced font ",11"
    }
    set output outbase.'.'.fmt
    plot for [i=0:nblocks-1] datafile index i using 1:2:xtic(3) with linespoints lw 2 pt 7 ps 1.2 title word(titles, i+1)
    unset output
}
