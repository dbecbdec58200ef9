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

// zero takes no time.
type zero struct{}

func (zero) sample(*rand.Rand) float64 { return 0 }
func (zero) mean() float64             { return 0 }
