package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// config is the docket command's configuration file, DOCKET_CONFIG or
// $XDG_CONFIG_HOME/docket/config.yaml (~/.config/docket/config.yaml):
//
//	server: https://docket.internal:8080
//	token: dkt_...
//
// DOCKET_SERVER, DOCKET_TOKEN and --server take precedence.
type config struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

// configPath is where the configuration file is looked for.
func configPath() string {
	if p := os.Getenv("DOCKET_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "docket", "config.yaml")
}

// loadConfig reads the configuration file; a missing file is an empty configuration.
func loadConfig() (config, error) {
	var c config
	path := configPath()
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return c, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}
