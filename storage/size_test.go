package storage

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1073741824", 1 << 30, true},
		{"512MB", 512 << 20, true},
		{"2GB", 2 << 30, true},
		{"1.5 KiB", 1536, true},
		{"10b", 10, true},
		{"3 XB", 0, false},
		{"-1GB", 0, false},
		{"GB", 0, false},
		{"99999PB", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
