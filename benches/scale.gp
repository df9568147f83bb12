# Plots one curve of benches/scale.sh: throughput, p99 latency and RSS against the curve's
# variable, Arbor and ZooKeeper side by side. Called by `scale.sh --plot`:
#
#   gnuplot -e "curve='znodes'; csv='out/znodes.csv'; png='docs/bench/scale-znodes.png'" benches/scale.gp
#
# CSV columns (scale.sh writes them; one block of rows per server):
#   znodes:   server,target_znodes,znodes,rss_kib,hwm_kib,get_ops,get_p99_ms,get_errors,set_ops,set_p99_ms,set_errors,load_s
#   sessions: server,idle_sessions,alive_connections,rss_kib,get_ops,get_p99_ms,get_errors
#   watches:  server,watches,server_watches,rss_kib,get_ops,get_p99_ms,get_errors,set_ops,set_p99_ms,set_errors

set datafile separator ","
set terminal pngcairo size 1500,450 font ",10"
set output png

if (curve eq "znodes") {
    xcol = 3; get_ops = 6; get_p99 = 7; set_ops = 9; set_p99 = 10; has_set = 1
    xlabel = "znodes (100-byte data)"; title = "Tree size"
} else {
    if (curve eq "sessions") {
        xcol = 2; get_ops = 5; get_p99 = 6; has_set = 0
        xlabel = "idle sessions"; title = "Idle sessions"
    } else {
        xcol = 2; get_ops = 5; get_p99 = 6; set_ops = 8; set_p99 = 9; has_set = 1
        xlabel = "data watches"; title = "Watches"
    }
}
rss = 4

is(server, col) = (strcol(1) eq server ? column(col) : NaN)

set multiplot layout 1,3 title title." — Arbor vs ZooKeeper 3.8 (standalone)"
set grid
set xlabel xlabel
set key top left
set format x "%.0s%c"

set ylabel "ops/s"
set format y "%.0s%c"
set yrange [0:*]
if (has_set) {
    plot csv skip 1 using (is("arbor", xcol)):(is("arbor", get_ops)) with linespoints lw 2 pt 7 lc rgb "#1b7837" title "Arbor getData", \
         csv skip 1 using (is("arbor", xcol)):(is("arbor", set_ops)) with linespoints lw 2 pt 5 lc rgb "#5aae61" title "Arbor setData", \
         csv skip 1 using (is("zookeeper", xcol)):(is("zookeeper", get_ops)) with linespoints lw 2 pt 7 lc rgb "#762a83" title "ZooKeeper getData", \
         csv skip 1 using (is("zookeeper", xcol)):(is("zookeeper", set_ops)) with linespoints lw 2 pt 5 lc rgb "#9970ab" title "ZooKeeper setData"
} else {
    plot csv skip 1 using (is("arbor", xcol)):(is("arbor", get_ops)) with linespoints lw 2 pt 7 lc rgb "#1b7837" title "Arbor getData", \
         csv skip 1 using (is("zookeeper", xcol)):(is("zookeeper", get_ops)) with linespoints lw 2 pt 7 lc rgb "#762a83" title "ZooKeeper getData"
}

set ylabel "p99 latency, ms"
set format y "%g"
if (has_set) {
    plot csv skip 1 using (is("arbor", xcol)):(is("arbor", get_p99)) with linespoints lw 2 pt 7 lc rgb "#1b7837" title "Arbor getData", \
         csv skip 1 using (is("arbor", xcol)):(is("arbor", set_p99)) with linespoints lw 2 pt 5 lc rgb "#5aae61" title "Arbor setData", \
         csv skip 1 using (is("zookeeper", xcol)):(is("zookeeper", get_p99)) with linespoints lw 2 pt 7 lc rgb "#762a83" title "ZooKeeper getData", \
         csv skip 1 using (is("zookeeper", xcol)):(is("zookeeper", set_p99)) with linespoints lw 2 pt 5 lc rgb "#9970ab" title "ZooKeeper setData"
} else {
    plot csv skip 1 using (is("arbor", xcol)):(is("arbor", get_p99)) with linespoints lw 2 pt 7 lc rgb "#1b7837" title "Arbor getData", \
         csv skip 1 using (is("zookeeper", xcol)):(is("zookeeper", get_p99)) with linespoints lw 2 pt 7 lc rgb "#762a83" title "ZooKeeper getData"
}

set ylabel "resident memory, MiB"
plot csv skip 1 using (is("arbor", xcol)):(is("arbor", rss) / 1024) with linespoints lw 2 pt 7 lc rgb "#1b7837" title "Arbor", \
     csv skip 1 using (is("zookeeper", xcol)):(is("zookeeper", rss) / 1024) with linespoints lw 2 pt 7 lc rgb "#762a83" title "ZooKeeper (JVM, -Xmx1g)"

unset multiplot
