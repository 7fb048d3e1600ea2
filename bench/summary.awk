# The table of tools/bench, from build/bench/runs.tsv (one line per case and
# round).  Variables: cases (the cases in order), bases ("case=baseline"
# pairs), ga, gb, gc (the ratio goals of a, b, c); desc[] comes from a
# prelude that tools/bench writes.

function median(s,    v, n, i, j, t) {
    n = split(s, v, " ")
    if (n == 0) {
        return -1
    }
    for (i = 2; i <= n; i++) {
        t = v[i] + 0
        for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) {
            v[j + 1] = v[j]
        }
        v[j + 1] = t
    }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}

# the median over rounds of rps(x) / rps(y), rounds where both ran; the
# smallest and largest in rmin and rmax
function ratio(x, y,    r, s, q) {
    s = ""
    rmin = -1
    rmax = -1
    for (r = 1; r <= rounds; r++) {
        if (((r, x) in rps) && ((r, y) in rps) && rps[r, y] > 0) {
            q = rps[r, x] / rps[r, y]
            s = s " " q
            if (rmin < 0 || q < rmin) {
                rmin = q
            }
            if (q > rmax) {
                rmax = q
            }
        }
    }
    return median(s)
}

NR > 1 {
    rps[$1, $2] = $5
    cpu[$1, $2] = $8
    l_rps[$2] = l_rps[$2] " " $5
    l_p50[$2] = l_p50[$2] " " $6
    l_p99[$2] = l_p99[$2] " " $7
    l_cpu[$2] = l_cpu[$2] " " $8
    l_util[$2] = l_util[$2] " " $9
    err[$2] += $10
    if ($1 > rounds) {
        rounds = $1
    }
}

# the median over rounds of cpu(y) / cpu(x): the ratio of requests/s the
# CPU time per request predicts for a saturated worker
function cpu_ratio(x, y,    r, s) {
    s = ""
    for (r = 1; r <= rounds; r++) {
        if (((r, x) in cpu) && ((r, y) in cpu) && cpu[r, x] > 0) {
            s = s " " cpu[r, y] / cpu[r, x]
        }
    }
    return median(s)
}

END {
    nb = split(bases, b, " ")
    for (i = 1; i <= nb; i++) {
        split(b[i], kv, "=")
        base[kv[1]] = kv[2]
    }
    goal["a"] = ga; goal["b"] = gb; goal["c"] = gc

    printf "%-4s %-42s %7s %6s %6s %6s %5s %6s %11s %6s  %s\n", "case",
           "", "req/s", "p50 ms", "p99 ms", "cpu us", "cpu%", "ratio",
           "(min-max)", "cpu r.", "goal"

    nc = split(cases, cl, " ")
    for (i = 1; i <= nc; i++) {
        c = cl[i]
        q = -1
        range = ""
        cq = "-"
        if (base[c] != "") {
            q = ratio(c, base[c])
            if (q >= 0) {
                range = sprintf("(%.2f-%.2f)", rmin, rmax)
            }
            m = cpu_ratio(c, base[c])
            if (m >= 0) {
                cq = sprintf("%.3f", m)
            }
        }
        g = ""
        if ((c in goal) && q >= 0) {
            g = sprintf(">= %.2f: %s, cpu r. %s", goal[c],
                        q >= goal[c] ? "met" : "MISSED",
                        cq + 0 >= goal[c] ? "met" : "MISSED")
        }
        if (c == "d") {
            m = ratio("d", "a")
            n = cpu_ratio("d", "a")
            if (m >= 0) {
                g = sprintf("(d)/(a) %.3f, cpu %.3f: within 2%% %s, %s", m, n,
                            (m >= 0.98 && m <= 1.02) ? "met" : "MISSED",
                            (n >= 0.98 && n <= 1.02) ? "met" : "MISSED")
            }
        }
        printf "%-4s %-42s %7.0f %6.3f %6.3f %6.1f %5.0f %6s %11s %6s  %s%s\n",
               c, desc[c], median(l_rps[c]), median(l_p50[c]) / 1000,
               median(l_p99[c]) / 1000, median(l_cpu[c]),
               median(l_util[c]) * 100,
               (q >= 0 ? sprintf("%.3f", q) : "-"), range, cq, g,
               (err[c] ? sprintf("  [%d errors]", err[c]) : "")

        u = median(l_util[c])
        if (low == "" || u < low) {
            low = u
        }
    }

    if (low != "" && low < 0.70) {
        printf "\nwarning: in some cases the measured worker was busy only %.0f%% " \
               "of the\ntime: something else limited the rate (wrk, the fixed " \
               "upstream, other\nprocesses on the machine).  Its req/s and " \
               "ratios are then not the module's;\ncpu us and cpu r. still " \
               "are.\n", low * 100
    }
}
