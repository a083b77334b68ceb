package console

import "net/http"

// caRoutes adds the routes of a client CA's own page.
func (c *Console) caRoutes(_ *http.ServeMux) {}
