package serve

import "net/http"

// mountUI serves the browser client.
func (s *Server) mountUI(mux *http.ServeMux) {}
