package simulator

import (
	"math"
	"math/rand/v2"
)

// dist is a service-time (or delay) distribution in seconds.
type dist interface {
	sample(r *rand.Rand) float64
	mean() float64
}

// exponential is memoryless: the M in M/M/c.
type exponential struct{ m float64 }

func (d exponential) sample(r *rand.Rand) float64 { return r.ExpFloat64() * d.m }
func (d exponential) mean() float64               { return d.m }

// deterministic always takes the same time.
type deterministic struct{ d float64 }

func (d deterministic) sample(*rand.Rand) float64 { return d.d }
func (d deterministic) mean() float64             { return d.d }

// logNormal has a long right tail, like real query times.
type logNormal struct{ mu, sigma float64 }

// newLogNormal returns the log-normal with the given mean and shape sigma.
func newLogNormal(mean, sigma float64) logNormal {
	return logNormal{mu: math.Log(mean) - sigma*sigma/2, sigma: sigma}
}

func (d logNormal) sample(r *rand.Rand) float64 { return math.Exp(d.mu + d.sigma*r.NormFloat64()) }
func (d logNormal) mean() float64               { return math.Exp(d.mu + d.sigma*d.sigma/2) }

// shifted adds a fixed minimum to another distribution: a network hop is a
// floor of wire time plus jitter.
type shifted struct {
	min float64
	d   dist
}

func (d shifted) sample(r *rand.Rand) float64 { return d.min + d.d.sample(r) }
func (d shifted) mean() float64               { return d.min + d.d.mean() }

// hyperExponential is a mix of two exponentials with balanced means: the
// same mean as an exponential but a squared coefficient of variation scv > 1,
// a heavy-tailed service time (most queries fast, a few very slow).
type hyperExponential struct{ p, m1, m2 float64 }

func newHyperExponential(mean, scv float64) hyperExponential {
	p := (1 + math.Sqrt((scv-1)/(scv+1))) / 2
	return hyperExponential{p: p, m1: mean / (2 * p), m2: mean / (2 * (1 - p))}
}

func (d hyperExponential) sample(r *rand.Rand) float64 {
	if r.Float64() < d.p {
		return r.ExpFloat64() * d.m1
	}
	return r.ExpFloat64() * d.m2
}
func (d hyperExponential) mean() float64 { return d.p*d.m1 + (1-d.p)*d.m2 }

// zero takes no time.
type zero struct{}

func (zero) sample(*rand.Rand) float64 { return 0 }
func (zero) mean() float64             { return 0 }
