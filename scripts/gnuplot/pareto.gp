# pareto.gp — perplexity vs a cost/speed axis: one point per method x
# bit-width (colour = method, shape = bit-width, both in the key) and the
# Pareto front (dashed, its points labelled "method bits"). PNG (pngcairo)
# and SVG. `ptqbench report --plots` passes:
#   datafile   blocks "x y pointtype" separated by two blank lines, one per method
#   frontfile  block 0: "x y" of the front in x order (the line); blocks 1..4:
#              "x y \"method bits\"" (front point i in block 1 + i % 4), each
#              block labelled at its own vertical offset
#   xzero      1: x axis from 0 (speeds)
#   outbase, xlab, ylab, ttl;  logy
#   nblocks, titles   method labels (space-separated)
#   nbits, bitnames, pts   bit-widths and their point types (space-separated)
set title ttl
set xlabel xlab
set ylabel ylab
set grid xtics ytics mytics
set key outside right top spacing 1.2
if (logy) { set logscale y }
if (xzero) { set xrange [0:*] }
set offsets graph 0.06, graph 0.14, graph 0.08, graph 0.08
# dark, distinct colours (the default cycle has a pale yellow)
colours = "#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b #e377c2 #17becf #7f7f7f #bcbd22"
do for [i=1:10] { set linetype i lc rgb word(colours, i) }
set linetype cycle 10
yoffs = "1.0 -1.0 2.1 -2.1"
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size 1100,650 noenhanced font ",11"
    } else {
        set terminal svg size 1100,650 noenhanced font ",11"
    }
    set output outbase.'.'.fmt
    plot frontfile index 0 using 1:2 with lines dt 2 lw 2 lc rgb 'gray30' title 'Pareto front', \
         for [i=0:nblocks-1] NaN with points pt 7 ps 1.5 lc i+1 title word(titles, i+1), \
         for [j=1:nbits] NaN with points pt int(word(pts, j)) ps 1.5 lc rgb 'black' title word(bitnames, j), \
         for [i=0:nblocks-1] datafile index i using 1:2:3 with points pt variable ps 1.5 lc i+1 notitle, \
         for [k=1:4] frontfile index k using 1:2:3 with labels left offset char 0.8, real(word(yoffs, k)) font ",9" notitle
    unset output
}
