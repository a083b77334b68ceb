package console

// The site and expiry pages' templates, added to the shared page map.
func init() {
	for n, t := range parsePages("site", "expiry", "message") {
		pages[n] = t
	}
}
