package webhook

// SetAfterScan makes d call fn after every scan.
func SetAfterScan(d *Dispatcher, fn func()) { d.afterScan = fn }
