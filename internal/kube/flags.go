package kube

import (
	"strconv"
	"strings"
)

// FeatureFlag reads the value of a RHACS feature flag such as
// ROX_VIRTUAL_MACHINES as RHACS itself does (pkg/features/feature.go,
// unchanged from 4.9.0 to the master of 2026-08-22): "true" or "false" in
// any case. Any other value ("1", "yes", "t") or none leaves the flag at its
// default, and FeatureFlag returns nil.
func FeatureFlag(value string) *bool {
	var b bool
	switch strings.ToLower(value) {
	case "true":
		b = true
	case "false":
	default:
		return nil
	}
	return &b
}

// BooleanSetting reads the value of a RHACS boolean setting such as
// ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES as RHACS does
// (pkg/env/booleansetting.go, 4.11.2): "" is the default; any other value
// is strconv.ParseBool's, and false when it does not parse.
func BooleanSetting(value string, def bool) bool {
	if value == "" {
		return def
	}
	b, err := strconv.ParseBool(value)
	return b && err == nil
}
