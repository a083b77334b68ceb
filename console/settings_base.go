package console

import (
	"encoding/json"
	"slices"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// baseOf is the hidden "base" value of the settings form: the values it
// was rendered with, as JSON.
func baseOf(s *pb.ClientCertSettings) string {
	b, _ := json.Marshal(settingValues(s))
	return string(b)
}

// settingsOfBase reads a form's base back into settings; ok is false
// when it is missing or unreadable.
func settingsOfBase(base string) (*pb.ClientCertSettings, bool) {
	var vals map[string]string
	if json.Unmarshal([]byte(base), &vals) != nil || vals == nil {
		return nil, false
	}
	s := &pb.ClientCertSettings{}
	for _, f := range allFields() {
		if f.set(s, vals[f.name]) != nil {
			return nil, false
		}
	}
	return s, true
}

// savedNotice says which fields a save changed, from the ?saved= list,
// naming only known mask paths.
func savedNotice(saved string) string {
	return savedFieldsNotice(saved, func(p string) bool {
		return slices.ContainsFunc(allFields(), func(f settingField) bool { return f.maskPath() == p })
	})
}

// savedFieldsNotice says which fields a save changed, from a redirect's
// comma-separated list, naming only the paths known accepts (the list
// comes from the URL), each once; "" when none.
func savedFieldsNotice(saved string, known func(string) bool) string {
	var names []string
	for _, p := range strings.Split(saved, ",") {
		if known(p) && !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "Saved: " + strings.Join(names, ", ") + "."
}
