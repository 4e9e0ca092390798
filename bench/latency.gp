# SPDX-License-Identifier: ISC
# latency.gp - pairtok latency against store size, log-log.
#
#   gnuplot -e "datafile='latency.dat'; outfile='latency.png'" bench/latency.gp
#
# datafile columns: n load_ms save_ms issue_ms redeem_ms floor_ms
# (scripts/bench writes it).

if (!exists("datafile")) datafile = 'latency.dat'
if (!exists("outfile")) outfile = 'latency.png'

# gnuplot-nox may be built without cairo; the libgd png terminal always is.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 960,640 enhanced font "sans,11"
} else {
    set terminal png size 960,640 enhanced font "sans,11"
}
set output outfile

set title "pairtok: median latency vs store size"
set xlabel "records in the store (N)"
set ylabel "median latency (ms)"
set logscale xy
set format x "10^{%L}"
set format y "%g"
set grid xtics ytics mxtics mytics lw 1 lc rgb "#dddddd"
set key top left Left reverse box opaque
set offsets graph 0.05, graph 0.05, 0, 0

plot datafile using 1:6 title "I/O floor (read, write temp, fsync, rename, fsync dir)" \
         with linespoints lw 3 dt 2 pt 7 lc rgb "#000000", \
     datafile using 1:($6 * 2) title "2 x floor (issue/redeem target)" \
         with lines lw 2 dt 3 lc rgb "#888888", \
     datafile using 1:4 title "issue" with linespoints lw 2 pt 5 lc rgb "#d62728", \
     datafile using 1:5 title "redeem" with linespoints lw 2 pt 9 lc rgb "#1f77b4", \
     datafile using 1:2 title "load (cold handle)" with linespoints lw 2 pt 11 lc rgb "#2ca02c", \
     datafile using 1:3 title "save (N records)" with linespoints lw 2 pt 13 lc rgb "#ff7f0e"
