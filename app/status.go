package app

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// PrometheusVersion is the Prometheus release whose PromQL engine and HTTP
// API archscope serves (the github.com/prometheus/prometheus module in
// go.mod, v0.316.0 being 3.16.0; a test keeps them in step). Clients that
// pick features by version, as Grafana does, read it from buildinfo.
const PrometheusVersion = "3.16.0"

// buildInfoJSON is Prometheus' /api/v1/status/buildinfo, plus what is
// answering. Grafana Mimir names itself in the same application field;
// there is no features field, whose presence makes Grafana take a server
// for Mimir and look for a ruler API.
type buildInfoJSON struct {
	Version          string `json:"version"`
	Revision         string `json:"revision"`
	Branch           string `json:"branch"`
	BuildUser        string `json:"buildUser"`
	BuildDate        string `json:"buildDate"`
	GoVersion        string `json:"goVersion"`
	Application      string `json:"application"`
	ArchscopeVersion string `json:"archscopeVersion"`
}

func buildInfo() buildInfoJSON {
	b := buildInfoJSON{
		Version: PrometheusVersion, GoVersion: runtime.Version(),
		Application: "archscope", ArchscopeVersion: Version,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					b.BuildDate = t.UTC().Format("20060102-15:04:05") // Prometheus' layout
				}
			case "vcs.modified":
				if s.Value == "true" && b.Revision != "" && !strings.HasSuffix(b.Revision, "-modified") {
					b.Revision += "-modified"
				}
			}
		}
	}
	return b
}

func (a *App) handleBuildInfo(w http.ResponseWriter, r *http.Request) {
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: buildInfo()})
}
