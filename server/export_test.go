package server

// CloseAuthzListener closes the ext_authz listener under a running Serve,
// as a failing socket would.
func (s *Server) CloseAuthzListener() error { return s.authzLn.Close() }
