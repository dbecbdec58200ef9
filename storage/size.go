package storage

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads a byte count as Prometheus' --storage.tsdb.retention.size
// does: a number with an optional unit B, KB, MB, GB, TB, PB (powers of
// 1024; KiB, MiB… are accepted too), e.g. "512MB", "2GB", "1073741824".
func ParseSize(s string) (int64, error) {
	num := strings.TrimSpace(s)
	i := strings.IndexFunc(num, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	unit := ""
	if i >= 0 {
		num, unit = num[:i], strings.ToUpper(strings.TrimSpace(num[i:]))
	}
	shift, ok := map[string]uint{"": 0, "B": 0, "KB": 10, "KIB": 10, "MB": 20, "MIB": 20, "GB": 30, "GIB": 30, "TB": 40, "TIB": 40, "PB": 50, "PIB": 50}[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, KB, MB, GB, TB or PB)", s, unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a non-negative number with an optional unit, e.g. 2GB", s)
	}
	f *= float64(uint64(1) << shift)
	if f >= 1<<63 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(f), nil
}
