//go:build !race

package collectors

const raceEnabled = false
