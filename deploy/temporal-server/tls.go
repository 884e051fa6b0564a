// The tls-dev subcommand runs a single-process Temporal server whose public frontend
// requires mutual TLS, for tests of tierflow's Temporal TLS settings.
//
// `temporal server start-dev` has no TLS flags, so this embeds the server (same module
// version as the dev server) and sets global.tls.frontend itself. All services run in one
// process on SQLite (in memory by default) and find each other through static hosts, so
// there is no ringpop membership to configure.
//
// The system worker and history/matching talk to the frontend through an
// "internal-frontend" service on a plain-text port bound to the same IP; only the public
// frontend asks for client certificates. That keeps the test certificates simple: the
// server needs no client certificate of its own.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

const clusterName = "active"

type options struct {
	ip, namespace, dbFile, logLevel string
	port, internalBase              int
	cert, key, clientCA             string
}

// runTLSDev parses the tls-dev flags and serves until SIGINT or SIGTERM.
func runTLSDev(args []string) error {
	var o options
	flags := flag.NewFlagSet("tls-dev", flag.ExitOnError)
	flags.StringVar(&o.ip, "ip", "127.0.0.1", "IP to bind every service to")
	flags.IntVar(&o.port, "port", 7233, "gRPC port of the public (mTLS) frontend")
	flags.IntVar(&o.internalBase, "internal-port-base", 0,
		"first of 4 consecutive ports for internal-frontend, history, matching, worker (0: pick free ports)")
	flags.StringVar(&o.dbFile, "db-filename", "", "SQLite file (created with its schema if missing); empty: in memory")
	flags.StringVar(&o.namespace, "namespace", "default", "namespace to create at start")
	flags.StringVar(&o.cert, "tls-cert", "", "PEM server certificate (chain) of the frontend")
	flags.StringVar(&o.key, "tls-key", "", "PEM private key of --tls-cert")
	flags.StringVar(&o.clientCA, "tls-client-ca", "", "PEM CA that client certificates must chain to")
	flags.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := flags.Parse(args); err != nil {
		return err
	}
	return serveTLSDev(o)
}

func serveTLSDev(o options) error {
	for name, path := range map[string]string{"--tls-cert": o.cert, "--tls-key": o.key, "--tls-client-ca": o.clientCA} {
		if path == "" {
			return fmt.Errorf("%s is required", name)
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	ports, err := internalPorts(o)
	if err != nil {
		return err
	}
	sql, err := sqlConfig(o)
	if err != nil {
		return err
	}
	conf := serverConfig(o, ports, sql)

	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(o.ip, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: o.logLevel, Format: "json"}))
	server, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.Services), // DefaultServices lacks internal-frontend
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
	)
	if err != nil {
		return fmt.Errorf("building server: %w", err)
	}
	if err := server.Start(); err != nil {
		return fmt.Errorf("starting server: %w", err)
	}
	// The Python helper waits for this line (and then probes the port over mTLS).
	fmt.Printf("temporal-tls: serving mTLS frontend on %s, namespace %q\n",
		net.JoinHostPort(o.ip, strconv.Itoa(o.port)), o.namespace)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	server.Stop()
	return nil
}

// internalPorts returns the gRPC ports of the services that only the server itself dials.
func internalPorts(o options) (map[primitives.ServiceName]int, error) {
	names := []primitives.ServiceName{
		primitives.InternalFrontendService, primitives.HistoryService,
		primitives.MatchingService, primitives.WorkerService,
	}
	ports := map[primitives.ServiceName]int{}
	for i, name := range names {
		if o.internalBase > 0 {
			ports[name] = o.internalBase + i
			continue
		}
		// Racy like the dev server's own free-port pick, but fine for a test process.
		l, err := net.Listen("tcp", net.JoinHostPort(o.ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		ports[name] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	return ports, nil
}

// sqlConfig returns the SQLite store and creates the namespace in it before the server
// starts (the server itself never creates namespaces).
func sqlConfig(o options) (*config.SQL, error) {
	sql := &config.SQL{PluginName: sqliteplugin.PluginName}
	if o.dbFile == "" {
		// The plugin sets the schema up by itself for an in-memory database; "shared" lets
		// every service's connection pool see the same one.
		sql.DatabaseName = fmt.Sprintf("temporal-tls-%d", os.Getpid())
		sql.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		sql.DatabaseName = o.dbFile
		sql.ConnectAttributes = map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "normal"}
		if _, err := os.Stat(o.dbFile); os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Dir(o.dbFile), 0o755); err != nil {
				return nil, err
			}
			if err := sqliteschema.SetupSchema(sql); err != nil {
				return nil, fmt.Errorf("setting up the SQLite schema: %w", err)
			}
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.namespace, false, nil)
	if err != nil {
		return nil, err
	}
	if err := sqliteschema.CreateNamespaces(sql, ns); err != nil { // no-op if it exists
		return nil, fmt.Errorf("creating namespace %q: %w", o.namespace, err)
	}
	return sql, nil
}

func serverConfig(o options, ports map[primitives.ServiceName]int, sql *config.SQL) *config.Config {
	frontend := net.JoinHostPort(o.ip, strconv.Itoa(o.port))
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.ip
	// Only the public frontend listener does TLS; Internode stays empty, so history,
	// matching, worker and internal-frontend speak plain gRPC on the bound IP.
	conf.Global.TLS.Frontend.Server = config.ServerTLS{
		CertFile:          o.cert,
		KeyFile:           o.key,
		ClientCAFiles:     []string{o.clientCA},
		RequireClientAuth: true,
	}

	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sql}}

	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled:                true,
			InitialFailoverVersion: 1,
			RPCAddress:             frontend,
			ClusterID:              "6f1c1a52-3b7e-4c1e-9a57-2f1d4be0c0de", // any fixed UUID
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"

	service := func(port int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: o.ip}}
	}
	conf.Services = map[string]config.Service{string(primitives.FrontendService): service(o.port)}
	for name, port := range ports {
		conf.Services[string(name)] = service(port)
	}
	// With an internal-frontend service and no publicClient, the server's own clients use
	// it (and internode TLS, here none) instead of the mTLS frontend.
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	return conf
}
