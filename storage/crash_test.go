package storage

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	bolt "go.etcd.io/bbolt"
)

// The crash test's child: it ingests into the file named by this variable
// until it is killed.
const crashChildEnv = "ARCHSCOPE_STORAGE_CRASH_CHILD"

const (
	crashSeries   = 50
	crashStep     = 5000                 // virtual ms between scrapes: chunk cuts every 10 min, hours within the run
	crashInterval = 5 * time.Millisecond // real time between scrapes, and the flush interval
)

// crashValue is series i's value at scrape k: the check recomputes it.
func crashValue(i, k int) float64 { return float64(k*(i+1)) + float64(k%7)/4 }

// crashChild appends one scrape of crashSeries series every crashInterval,
// continuing after the last scrape on disk. After each Append it prints
// "a K"; every fifth scrape it calls Flush and prints "c K": the parent
// holds it to every "c" line.
func crashChild(path string) {
	db, err := Open(path, &Options{FlushInterval: crashInterval})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	k := 0
	if s := db.byKey[string(encodeLabels(nil, crashLabels(0)))]; s != nil {
		k = int(s.maxT/crashStep) + 1
	}
	batch := make([]Sample, crashSeries)
	for i := range batch {
		batch[i].Labels = crashLabels(i)
	}
	for ; ; k++ {
		for i := range batch {
			batch[i].T, batch[i].V = int64(k)*crashStep, crashValue(i, k)
		}
		if err := db.Append(batch); err != nil {
			fmt.Println("append:", err)
			os.Exit(2)
		}
		fmt.Printf("a %d\n", k)
		if k%5 == 0 {
			if err := db.Flush(); err != nil {
				fmt.Println("flush:", err)
				os.Exit(2)
			}
			fmt.Printf("c %d\n", k)
		}
		time.Sleep(crashInterval)
	}
}

func crashLabels(i int) labels.Labels {
	return lbl("__name__", "crash", "job", "child", "i", strconv.Itoa(i))
}

// TestCrashSafety kills an ingesting process with SIGKILL again and again
// (ARCHSCOPE_STORAGE_CRASH_KILLS times, default 20; a larger number makes it
// a soak test). After every kill the file must open, pass bbolt's
// consistency check, hold every scrape the child reported flushed, hold
// the same scrapes for every series (a flush is one transaction), and have
// rollups that agree with the raw samples. It reports the worst loss: the
// scrapes the child had appended, beyond those on disk, in scrape intervals
// (the flush interval equals the scrape interval here).
func TestCrashSafety(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	kills := 20
	if n, err := strconv.Atoi(os.Getenv("ARCHSCOPE_STORAGE_CRASH_KILLS")); err == nil {
		kills = n
	}
	path := filepath.Join(t.TempDir(), "h.db")
	rng := rand.New(rand.NewPCG(6, 4))
	worstLoss, lastK := 0, -1
	for kill := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		appended, committed := -1, -1
		var other []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				var k int
				mu.Lock()
				switch {
				case strings.HasPrefix(line, "a "):
					k, _ = strconv.Atoi(line[2:])
					appended = k
				case strings.HasPrefix(line, "c "):
					k, _ = strconv.Atoi(line[2:])
					committed = k
				default:
					other = append(other, line)
				}
				mu.Unlock()
			}
		}()
		// Let it open and ingest for 50–250 ms, then kill it mid-whatever.
		time.Sleep(time.Duration(50+rng.IntN(200)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-done
		_ = cmd.Wait()
		mu.Lock()
		if len(other) > 0 && (appended < 0 || strings.Contains(strings.Join(other, "\n"), ":")) {
			t.Logf("child said: %s", strings.Join(other, "\n"))
		}
		a, c := appended, committed
		mu.Unlock()

		k := crashCheck(t, path, c)
		if k < lastK {
			t.Fatalf("kill %d: the file went back from scrape %d to %d", kill, lastK, k)
		}
		if a >= 0 {
			worstLoss = max(worstLoss, a-k)
		}
		lastK = k
	}
	t.Logf("%d kills, %d scrapes of %d series on disk at the end; worst loss: %d scrape intervals (flush interval = scrape interval = %v)",
		kills, lastK+1, crashSeries, worstLoss, crashInterval)
}

// crashCheck opens the file after a kill and checks it; it returns the last
// scrape on disk.
func crashCheck(t *testing.T, path string, committed int) int {
	t.Helper()
	db, err := Open(path, &Options{FlushInterval: -1})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer db.Close()
	err = db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bbolt check after kill: %v", err)
	}
	all := readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, "__name__", "crash"))
	last := -1
	for i := range crashSeries {
		fs := all[crashLabels(i).String()]
		for k, s := range fs {
			if int64(s[0]) != int64(k)*crashStep || s[1] != crashValue(i, k) {
				t.Fatalf("series %d, scrape %d: %v, want %v at %d", i, k, s[1], crashValue(i, k), k*crashStep)
			}
		}
		if i == 0 {
			last = len(fs) - 1
		} else if len(fs)-1 != last {
			t.Fatalf("series %d ends at scrape %d, series 0 at %d: a flush was torn", i, len(fs)-1, last)
		}
	}
	if last < committed {
		t.Fatalf("scrape %d was reported flushed, but the file ends at %d", committed, last)
	}
	// The minute tier holds, for each minute, its last sample.
	if last >= 0 {
		fs := all[crashLabels(3).String()]
		pts := selectPoints(t, db, &promstorage.SelectHints{Start: 0, End: math.MaxInt64 / 2, Step: 60_000, Range: 600_000, Func: "rate"},
			labels.MustNewMatcher(labels.MatchEqual, "__name__", "crash"), labels.MustNewMatcher(labels.MatchEqual, "i", "3"))
		byMinute := map[int64]float64{}
		for _, s := range fs {
			byMinute[periodEnd(int64(s[0]), 60_000)] = s[1]
		}
		if len(pts) != len(byMinute) {
			t.Fatalf("%d minute points, %d minutes of samples", len(pts), len(byMinute))
		}
		for _, p := range pts {
			want, ok := byMinute[periodEnd(p.t, 60_000)]
			if !ok || p.f != want {
				t.Fatalf("minute point %v, want the minute's last sample %v", p, want)
			}
		}
	}
	return last
}
