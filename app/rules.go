package app

import (
	"fmt"
	"net/http"
	"strings"
)

// archscope evaluates no recording or alerting rules. /api/v1/rules and
// /api/v1/alerts answer as a Prometheus without rule files does, because
// clients ask: Grafana's Prometheus data source reads the rules when it
// connects, to expand recording rules in queries.

// handleRules is /api/v1/rules: no groups, after Prometheus' checks of its
// parameters.
func (a *App) handleRules(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "error parsing form values: "+err.Error())
		return
	}
	if _, err := a.matcherSets(r.Form["match[]"]); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	if typ := strings.ToLower(r.URL.Query().Get("type")); typ != "" && typ != "alert" && typ != "record" {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter \"type\": not supported value %q", typ))
		return
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: map[string]any{"groups": []any{}}})
}

// handleAlerts is /api/v1/alerts: none.
func (a *App) handleAlerts(w http.ResponseWriter, r *http.Request) {
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: map[string]any{"alerts": []any{}}})
}
