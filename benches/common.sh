# Sourced by the benchmark scripts. `step NAME ROWS COMMAND...` runs one step
# with its output in $WORK/NAME.out and .err, and prints its seconds, rows,
# rows per second and peak memory (GNU time).
step() {
    local name=$1 rows=$2
    shift 2
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || {
        cat "$WORK/$name.err" >&2
        exit 1
    }
    read -r secs kb < "$WORK/time"
    awk -v n="$name" -v r="$rows" -v s="$secs" -v k="$kb" \
        'BEGIN { printf "%-16s %8.2f s  %12d rows  %10.0f rows/s  %6.0f MiB peak\n", n, s, r, (s > 0 ? r / s : 0), k / 1024 }'
}
