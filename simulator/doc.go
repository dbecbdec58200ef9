// Package simulator is the demo shop: a discrete-event simulation of an
// online shop under load, exposing its metrics the way a real service does.
//
// Time is virtual. Events (a request arriving, a worker finishing, a database
// query completing) sit in a heap ordered by their virtual time and are
// handled one at a time; every random draw comes from one seeded PCG source in
// event order, so the same seed and the same knob timeline give the same
// metrics, byte for byte. In live mode (Run) virtual time follows the wall
// clock; in fast mode (Advance) it runs as fast as the CPU allows.
//
// The shop: an open-model load generator sends requests as a Poisson process
// (users do not wait for each other) for products drawn from a Zipf
// popularity, through the gateway to the product service. The product service
// has a fixed pool of workers and a bounded FIFO queue (a full queue refuses
// with 503); a worker does a little CPU work, then looks the product up in an
// optional LRU cache and, on a miss, in the database, holding the worker for
// the whole time, database wait included. The database has a connection pool
// and a log-normal query time. Latency is measured from when a request was
// meant to start, so queueing is never hidden.
//
// Users do more than browse: each arrival picks a journey by weight (search,
// add to cart, check out, load an image), served by the shop's other
// services — auth, search, cart, order, inventory, payment, notification,
// static — through one generic machine (services.go), as microservices
// with network hops between them or all in one monolith process. Checkout
// can go through a message queue (mq.go); images through a CDN edge.
//
// Stations are plain c-server FIFO queues, so where queueing theory has an
// answer (M/M/1, M/M/c, Little's law) the simulation must agree with it; the
// tests check that.
package simulator
