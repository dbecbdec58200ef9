// Package app wires archscope together and serves it.
//
// An App owns one lifecycle: it opens the bbolt history (storage), starts the
// demo shop (simulator) and the scrape loops (collectors), evaluates PromQL
// over the stored history, and serves the HTTP API, the embedded frontend and
// the websocket hub on one listener. Data flows one way: the shop is scraped
// over its own /demo/metrics handler exactly like a real target, samples land
// in storage, and every chart point the browser sees is the answer to a PromQL
// query over that storage. The control API (the shop's knobs) is the only way
// back, and every change to it is recorded as an annotation.
//
// The same App runs headless (archscope serve) and inside the desktop window,
// where it listens on a loopback port because websockets do not pass through
// the Wails asset server.
package app
