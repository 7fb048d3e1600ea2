# The table of tools/bench, from build/bench/runs.tsv (one line per case and
# round).  Variable: cases (the cases in order).  A prelude that tools/bench
# writes sets desc[case], base[case] (its plain baseline, "" for none) and
# the comparisons below the table: ng of them, the i-th comparing case
# gx[i] with case gy[i], gkind[i] "min" (goal: ratio >= gval[i]), "band"
# (goal: ratio within gval[i] of 1), "noise" (goal: not slower than gy[i]
# beyond the run-to-run noise, i.e. not slower in every round) or "info"
# (no goal), described by glabel[i].
#
# With the fixed-rate rounds (tools/bench --rate), rate_file names their
# build/bench/rate.tsv, the second file: a second table, of those rounds,
# with the closed loop's ratios beside, and the goals are judged on the
# fixed rate's CPU ratio (the closed loop's verdicts beside).
#
# split_file names build/bench/split.tsv, the last file: the worker's
# user and kernel time in clock ticks in every round of both kinds, for
# the table of where the CPU time goes.

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

# the median over the n rounds of a[y] / a[x], a the CPU time per request
# per round and case (cpu: closed loop, fcpu: fixed rate): the ratio of
# requests/s the CPU time per request predicts for a saturated worker;
# the smallest and largest in cmin and cmax
function cpu_ratio(x, y, a, n,    r, s, q) {
    s = ""
    cmin = -1
    cmax = -1
    for (r = 1; r <= n; r++) {
        if (((r, x) in a) && ((r, y) in a) && a[r, x] > 0) {
            q = a[r, y] / a[r, x]
            s = s " " q
            if (cmin < 0 || q < cmin) {
                cmin = q
            }
            if (q > cmax) {
                cmax = q
            }
        }
    }
    return median(s)
}

# the median over the n rounds of a[x] - a[y], microseconds per request
function cpu_diff(x, y, a, n,    r, s) {
    s = ""
    for (r = 1; r <= n; r++) {
        if (((r, x) in a) && ((r, y) in a)) {
            s = s " " a[r, x] - a[r, y]
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

# rate.tsv: round case offered requests duration_us achieved p50_us
# p99_us p999_us cpu_us_per_req cpu_util errors fixed_util
rate_file != "" && FILENAME == rate_file {
    if (FNR > 1) {
        fcpu[$1, $2] = $10
        f_offered = $3
        f_ach[$2] = f_ach[$2] " " $6
        f_p50[$2] = f_p50[$2] " " $7
        f_p99[$2] = f_p99[$2] " " $8
        f_p999[$2] = f_p999[$2] " " $9
        f_cpu[$2] = f_cpu[$2] " " $10
        f_util[$2] = f_util[$2] " " $11
        f_err[$2] += $12
        if ($1 > frounds) {
            frounds = $1
        }
    }
    next
}

# split.tsv: mode round case requests user_ticks sys_ticks ticks_per_s;
# summed over the rounds: a tick (10 ms) is coarse for one round
split_file != "" && FILENAME == split_file {
    if (FNR > 1) {
        s_req[$1, $3] += $4
        s_usr[$1, $3] += $5 * 1e6 / $7
        s_sys[$1, $3] += $6 * 1e6 / $7
        s_ran[$1, $3] = 1
        s_rounds[$1] = 1
    }
    next
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
            m = cpu_ratio(c, base[c], cpu, rounds)
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

    if (frounds) {
        ftable()
    }

    stable()

    header = 0
    for (i = 1; i <= ng; i++) {
        x = gx[i]
        y = gy[i]
        if (!(x in ran) || !(y in ran)) {
            continue
        }
        if (!header && !frounds) {
            printf "\n%-46s %6s %11s %6s %8s  %s\n", "goals and comparisons",
                   "ratio", "(min-max)", "cpu r.", "cpu +us", "req/s, cpu r."
            header = 1
        }
        q = ratio(x, y)
        range = sprintf("(%.2f-%.2f)", rmin, rmax)
        qmax = rmax
        m = cpu_ratio(x, y, cpu, rounds)
        d = cpu_diff(x, y, cpu, rounds)
        if (gkind[i] == "info") {
            verdict = "-"
        } else {
            verdict = judge(gkind[i], gval[i], q, qmax) ", " \
                      judge(gkind[i], gval[i], m, cmax)
        }
        if (frounds) {
            fgoal(i, q, range, m, verdict)
            continue
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


# the fixed-rate rounds' table: per case, the rate offered and achieved,
# the latency from each request's due time, the worker's CPU time per
# request and its ratio to the baseline's, the closed loop's ratios beside
function ftable(    i, c, m, q, range, ach, mark) {
    printf "\nfixed rate, %d req/s offered to every case, %d rounds " \
           "(build/loadgen; p50, p99, p99.9:\nlatency from each request's " \
           "due time; cpu r.: baseline's cpu us / case's, (min-max) over\n" \
           "the rounds; closed loop: the ratios of the table above)\n",
           f_offered, frounds
    printf cs " %7s %6s %6s %7s %6s %5s %-4s %6s %11s  %6s %6s\n", "case",
           "req/s", "p50 ms", "p99 ms", "p99.9ms", "cpu us", "cpu%", "vs",
           "cpu r.", "(min-max)", "c.l. r", "cpu r."

    for (i = 1; i <= nc; i++) {
        c = cl[i]
        if (f_cpu[c] == "") {
            continue
        }
        m = "-"
        range = ""
        q = "-"
        cq = "-"
        if (base[c] != "") {
            m = sprintf("%.3f", cpu_ratio(c, base[c], fcpu, frounds))
            range = sprintf("(%.2f-%.2f)", cmin, cmax)
            q = sprintf("%.3f", ratio(c, base[c]))
            cq = sprintf("%.3f", cpu_ratio(c, base[c], cpu, rounds))
        }
        ach = median(f_ach[c])
        mark = ""
        if (ach < f_offered * 0.98) {
            mark = "  [rate not held: saturated]"
        }
        if (f_err[c]) {
            mark = mark sprintf("  [%d errors]", f_err[c])
        }
        printf cs " %7.0f %6.3f %6.3f %7.3f %6.1f %5.0f %-4s %6s %11s  %6s %6s%s\n",
               c, ach, median(f_p50[c]) / 1000, median(f_p99[c]) / 1000,
               median(f_p999[c]) / 1000, median(f_cpu[c]),
               median(f_util[c]) * 100, (base[c] != "" ? base[c] : "-"),
               m, range, q, cq, mark
    }
}


# a goal's line when the fixed-rate rounds ran: judged on their CPU
# ratio, the closed loop's (req/s ratio, its range, cpu r.) and its
# verdicts beside; the header first
function fgoal(i, q, range, m, verdict,    x, y, fm, fd, fverdict) {
    x = gx[i]
    y = gy[i]
    if (!fheader) {
        printf "\n%-46s %6s %11s %8s   %6s %11s %6s  %s\n",
               "goals and comparisons", "fixed", "rate: cpu r.", "cpu +us",
               "closed", "loop: ratio", "cpu r.",
               "verdict: fixed rate (closed loop: req/s, cpu r.)"
        fheader = 1
    }
    fm = cpu_ratio(x, y, fcpu, frounds)
    fd = cpu_diff(x, y, fcpu, frounds)
    if (gkind[i] == "info") {
        fverdict = "-"
    } else {
        fverdict = judge(gkind[i], gval[i], fm, cmax) " (" verdict ")"
    }
    printf "%-46s %6.3f %11s %+8.2f   %6.3f %11s %6.3f  %s\n", glabel[i],
           fm, sprintf("(%.2f-%.2f)", cmin, cmax), fd, q, range, m, fverdict
}


# us per request of case x in the rounds of mode, a the user or the
# kernel time summed over them; less that of y when y is not ""
function split_us(a, mode, x, y) {
    if (!s_req[mode, x] || (y != "" && !s_req[mode, y])) {
        return 0
    }
    return a[mode, x] / s_req[mode, x] \
           - (y == "" ? 0 : a[mode, y] / s_req[mode, y])
}


# user and kernel time per request, closed loop and fixed rate, and what
# a case adds to its baseline's: where the wake-ups show
function stable(    i, c, m, k, n, line) {
    n = split("closed rate", k, " ")
    if (!s_rounds["closed"]) {
        return
    }
    printf "\nuser and kernel time of the worker per request (/proc/PID/stat " \
           "utime, stime,\nin ticks, summed over the rounds; us; +user, " \
           "+kernel: added to the\nbaseline's)\n"
    line = sprintf(cs " %-4s", "", "")
    for (m = 1; m <= n; m++) {
        if (s_rounds[k[m]]) {
            line = line sprintf("  %-29s",
                                k[m] == "closed" ? "closed loop" : "fixed rate")
        }
    }
    sub(/ +$/, "", line)
    print line
    printf cs " %-4s", "case", "vs"
    for (m = 1; m <= n; m++) {
        if (s_rounds[k[m]]) {
            printf "  %6s %6s %7s %7s", "user", "kernel", "+user", "+kernel"
        }
    }
    printf "\n"

    for (i = 1; i <= nc; i++) {
        c = cl[i]
        if (!(("closed", c) in s_ran)) {
            continue
        }
        line = sprintf(cs " %-4s", c, base[c] != "" ? base[c] : "-")
        for (m = 1; m <= n; m++) {
            if (!s_rounds[k[m]]) {
                continue
            }
            if (!((k[m], c) in s_ran)) {
                line = line sprintf("  %29s", "")
                continue
            }
            line = line sprintf("  %6.2f %6.2f",
                                split_us(s_usr, k[m], c, ""),
                                split_us(s_sys, k[m], c, ""))
            if (base[c] != "") {
                line = line sprintf(" %+7.2f %+7.2f",
                                    split_us(s_usr, k[m], c, base[c]),
                                    split_us(s_sys, k[m], c, base[c]))
            } else {
                line = line sprintf(" %7s %7s", "-", "-")
            }
        }
        print line
    }
}
