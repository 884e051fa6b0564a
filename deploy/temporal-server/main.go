// Command temporal-server is the Temporal server tierflow runs on, built from
// go.temporal.io/server at the version go.mod pins, with three subcommands:
//
//	temporal-server start --config-file config/postgres.yaml
//	    The server as deployed in production: configuration from a YAML file in Temporal's
//	    own format (loaded and validated by the server's config loader, Go templates and
//	    environment variables included), the persistence and visibility stores it names
//	    (PostgreSQL for tierflow), ringpop membership. --service picks the services to run
//	    in this process (default: all four); run it once per service to split them.
//
//	temporal-server sql-tool [flags] setup-schema|update-schema|create-database ...
//	    The server's own SQL schema tool (temporal-sql-tool, go.temporal.io/server/tools/sql)
//	    with the schema files embedded in the module (--schema-name
//	    postgresql/v12/temporal, postgresql/v12/visibility).
//
//	temporal-server tls-dev --tls-cert ... --tls-key ... --tls-client-ca ...
//	    A test server on SQLite whose frontend requires mutual TLS (see tls.go).
//
// One binary for all three keeps one build (and one cache entry) for the tests.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // schedules and timers in named zones without the system's zoneinfo

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/headers"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql" // postgres12 plugin
	"go.temporal.io/server/temporal"
	sqltool "go.temporal.io/server/tools/sql"
)

const usage = `usage: temporal-server <command> [flags]

commands:
  start      run the server from a config file (--config-file FILE [--service NAME ...])
  sql-tool   the server's SQL schema tool (temporal-sql-tool); sql-tool --help for its flags
  tls-dev    a test server on SQLite whose frontend requires mutual TLS
  version    print the Temporal server version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	command, args := os.Args[1], os.Args[2:]
	var err error
	switch command {
	case "start":
		err = runStart(args)
	case "sql-tool":
		// The tool exits 1 itself when a subcommand fails; the error here is a usage error.
		err = sqltool.RunTool(append([]string{"temporal-server sql-tool"}, args...))
	case "tls-dev":
		err = runTLSDev(args)
	case "version":
		fmt.Println(headers.ServerVersion)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "temporal-server: unknown command %q\n\n%s", command, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "temporal-server %s: %v\n", command, err)
		os.Exit(1)
	}
}

// serviceList collects repeated --service flags.
type serviceList []string

func (s *serviceList) String() string { return strings.Join(*s, ",") }

func (s *serviceList) Set(value string) error {
	for _, name := range strings.Split(value, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*s = append(*s, name)
		}
	}
	return nil
}

// runStart loads the config file and runs the chosen services until SIGINT or SIGTERM,
// as the server's own `temporal-server start --config-file` does.
func runStart(args []string) error {
	flags := flag.NewFlagSet("start", flag.ExitOnError)
	configFile := flags.String("config-file", os.Getenv(config.EnvKeyConfigFile),
		"server config file (YAML, Temporal's config format; env "+config.EnvKeyConfigFile+")")
	var services serviceList
	flags.Var(&services, "service", "service to run (repeat or comma-separate; default: "+
		strings.Join(temporal.DefaultServices, ",")+")")
	allowNoAuth := flags.Bool("allow-no-auth", os.Getenv(config.EnvKeyAllowNoAuth) == "true",
		"run without an authorizer without a warning")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *configFile == "" {
		return fmt.Errorf("--config-file is required")
	}
	if len(services) == 0 {
		services = temporal.DefaultServices
	}

	cfg, err := config.Load(config.WithConfigFile(*configFile))
	if err != nil {
		return fmt.Errorf("loading %s: %w", *configFile, err)
	}
	logger := log.NewZapLogger(log.BuildZapLogger(cfg.Log))
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return fmt.Errorf("authorizer: %w", err)
	}
	if authorization.IsNoopAuthorizer(authorizer) && !*allowNoAuth {
		logger.Warn("No authorizer configured (global.authorization); pass --allow-no-auth " +
			"if the network alone protects this server.")
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return fmt.Errorf("claim mapper: %w", err)
	}
	audienceMapper, err := authorization.GetAudienceMapperFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return fmt.Errorf("audience mapper: %w", err)
	}
	server, err := temporal.NewServer(
		temporal.ForServices(services),
		temporal.WithConfig(cfg),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithAudienceGetter(func(*config.Config) authorization.JWTAudienceMapper {
			return audienceMapper
		}),
	)
	if err != nil {
		return fmt.Errorf("building the server: %w", err)
	}
	if err := server.Start(); err != nil {
		return fmt.Errorf("starting the server: %w", err)
	}
	logger.Info("temporal-server started",
		tag.String("server-version", headers.ServerVersion),
		tag.Int32("history-shards", cfg.Persistence.NumHistoryShards),
		tag.String("services", strings.Join(services, ",")))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	server.Stop()
	return nil
}
