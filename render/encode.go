package render

import "gopkg.in/yaml.v3"

// Encode writes cfg back as a stores.yaml document with every default
// spelled out. Parsing the result gives the same stores.
func Encode(cfg *Config) ([]byte, error) {
	type admin struct {
		Email string `yaml:"email"`
	}
	type store struct {
		Name    string  `yaml:"name"`
		Type    Type    `yaml:"type"`
		Plan    Plan    `yaml:"plan"`
		Domain  string  `yaml:"domain"`
		Admin   admin   `yaml:"admin"`
		Suspend bool    `yaml:"suspend,omitempty"`
		Options Options `yaml:"options"`
		Cluster string  `yaml:"cluster"`
	}
	doc := struct {
		Defaults Defaults `yaml:"defaults"`
		Stores   []store  `yaml:"stores"`
	}{Defaults: cfg.defaults, Stores: []store{}}
	for _, s := range cfg.stores {
		doc.Stores = append(doc.Stores, store{
			Name: s.Name, Type: s.Type, Plan: s.Plan, Domain: s.Domain,
			Admin: admin{Email: s.AdminEmail}, Suspend: s.Suspend, Options: s.Options,
			Cluster: ClusterName(s.Cluster),
		})
	}
	return yaml.Marshal(doc)
}
