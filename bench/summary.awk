# The table of tools/bench, from build/bench/runs.tsv (one line per case and
# round).  Variable: cases (the cases in order).  A prelude that tools/bench
# writes sets desc[case], base[case] (its plain baseline, "" for none) and
# the comparisons below the table: ng of them, the i-th comparing case
# gx[i] with case gy[i], gkind[i] "min" (goal: ratio >= gval[i]), "band"
# (goal: ratio within gval[i] of 1), "noise" (goal: not slower than gy[i]
# beyond the run-to-run noise, i.e. not slower in every round) or "info"
# (no goal), described by glabel[i].

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

# the median over rounds of cpu(y) / cpu(x): the ratio of requests/s the
# CPU time per request predicts for a saturated worker; the largest in
# cmax
function cpu_ratio(x, y,    r, s, q) {
    s = ""
    cmax = -1
    for (r = 1; r <= rounds; r++) {
        if (((r, x) in cpu) && ((r, y) in cpu) && cpu[r, x] > 0) {
            q = cpu[r, y] / cpu[r, x]
            s = s " " q
            if (q > cmax) {
                cmax = q
            }
        }
    }
    return median(s)
}

# the median over rounds of cpu(x) - cpu(y), microseconds per request
function cpu_diff(x, y,    r, s) {
    s = ""
    for (r = 1; r <= rounds; r++) {
        if (((r, x) in cpu) && ((r, y) in cpu)) {
            s = s " " cpu[r, x] - cpu[r, y]
        }
    }
    return median(s)
}

# q: the median ratio, qmax the largest of the rounds
function judge(kind, v, q, qmax) {
    if (kind == "min") {
        return q >= v ? "met" : "MISSED"
    }
    if (kind == "noise") {
        return (q >= 1 || qmax >= 1) ? "met" : "SLOWER"
    }
    return (q >= 1 - v && q <= 1 + v) ? "met" : "MISSED"
}

NR > 1 {
    rps[$1, $2] = $5
    cpu[$1, $2] = $8
    ran[$2] = 1
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

END {
    # the case column: 9 wide, or the longest name (X@base)
    nc = split(cases, cl, " ")
    cw = 9
    for (i = 1; i <= nc; i++) {
        if (length(cl[i]) > cw) {
            cw = length(cl[i])
        }
    }
    cs = "%-" cw "s"

    printf cs " %-44s %7s %6s %6s %6s %5s %-4s %6s %11s %6s\n", "case",
           "", "req/s", "p50 ms", "p99 ms", "cpu us", "cpu%", "vs",
           "ratio", "(min-max)", "cpu r."

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
        printf cs " %-44s %7.0f %6.3f %6.3f %6.1f %5.0f %-4s %6s %11s %6s%s\n",
               c, desc[c], median(l_rps[c]), median(l_p50[c]) / 1000,
               median(l_p99[c]) / 1000, median(l_cpu[c]),
               median(l_util[c]) * 100, (base[c] != "" ? base[c] : "-"),
               (q >= 0 ? sprintf("%.3f", q) : "-"), range, cq,
               (err[c] ? sprintf("  [%d errors]", err[c]) : "")

        u = median(l_util[c])
        if (low == "" || u < low) {
            low = u
        }
    }

    header = 0
    for (i = 1; i <= ng; i++) {
        x = gx[i]
        y = gy[i]
        if (!(x in ran) || !(y in ran)) {
            continue
        }
        if (!header) {
            printf "\n%-46s %6s %11s %6s %8s  %s\n", "goals and comparisons",
                   "ratio", "(min-max)", "cpu r.", "cpu +us", "req/s, cpu r."
            header = 1
        }
        q = ratio(x, y)
        range = sprintf("(%.2f-%.2f)", rmin, rmax)
        qmax = rmax
        m = cpu_ratio(x, y)
        d = cpu_diff(x, y)
        if (gkind[i] == "info") {
            verdict = "-"
        } else {
            verdict = judge(gkind[i], gval[i], q, qmax) ", " \
                      judge(gkind[i], gval[i], m, cmax)
        }
        printf "%-46s %6.3f %11s %6.3f %+8.2f  %s\n", glabel[i], q, range, m,
               d, verdict
    }

    if (low != "" && low < 0.70) {
        printf "\nwarning: in some cases the measured worker was busy only %.0f%% " \
               "of the\ntime: something else limited the rate (wrk, the fixed " \
               "upstream, other\nprocesses on the machine).  Its req/s and " \
               "ratios are then not the module's;\ncpu us and cpu r. still " \
               "are.\n", low * 100
    }
}
