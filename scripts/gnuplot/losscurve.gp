# losscurve.gp — a learned cell's calibration loss per optimization step,
# written as PNG (pngcairo) and SVG. `ptqbench report --plots` writes the
# data file ("step loss" lines) and passes, with gnuplot -e:
#   datafile, outbase (output path without extension), ttl (title)
set title ttl
set xlabel 'step'
set ylabel 'calibration loss'
set grid
set key off
set offsets graph 0.02, graph 0.02, graph 0.08, graph 0.08
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size 800,450 noenhanced font ",11"
    } else {
        set terminal svg size 800,450 noenhanced font ",11"
    }
    set output outbase.'.'.fmt
    plot datafile using 1:2 with linespoints lw 2 pt 7 ps 1.0
    unset output
}
