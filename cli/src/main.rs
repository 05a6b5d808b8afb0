//! `nomadctl`: the operator's CLI, with Nomad's verbs, flags (single-dash too) and output.

mod args;
mod commands;
mod deployments;
mod format;
mod jobfile;
mod monitor;
mod output_flags;
mod placement;
mod prefix;
mod tables;
mod template_output;

use api::client::Client;
use clap::{Parser, Subcommand};
use commands::*;

#[derive(Parser, Debug)]
#[command(
    name = "nomadctl",
    about = "Run and inspect jobs on a Nomad-style cluster"
)]
struct Cli {
    /// The HTTP address of an agent
    #[arg(long, global = true, env = "NOMAD_ADDR", default_value = api::client::DEFAULT_ADDRESS)]
    address: String,
    /// ACL token sent as X-Nomad-Token
    #[arg(long, global = true, env = "NOMAD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The namespace of jobs, allocations and the rest ("default" when unset)
    #[arg(long, global = true, env = "NOMAD_NAMESPACE")]
    namespace: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Interact with jobs
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// Interact with allocations
    Alloc {
        #[command(subcommand)]
        command: AllocCommand,
    },
    /// Interact with client nodes
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Interact with servers
    Server {
        #[command(subcommand)]
        command: ServerCommand,
    },
    /// Interact with evaluations
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Interact with deployments (rollouts)
    Deployment {
        #[command(subcommand)]
        command: DeploymentCommand,
    },
    /// Interact with the service catalog
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Try the agent's templates
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
    },
    /// Cluster-level operations (raft peers)
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// System maintenance: garbage collection
    System {
        #[command(subcommand)]
        command: SystemCommand,
    },
    /// Read and write Nomad Variables (encrypted key/value items at paths)
    Var {
        #[command(subcommand)]
        command: VarCommand,
    },
    /// Create, list, inspect and delete namespaces
    Namespace {
        #[command(subcommand)]
        command: NamespaceCommand,
    },
    /// Bootstrap ACLs and manage policies and tokens
    Acl {
        #[command(subcommand)]
        command: AclCommand,
    },
    /// Create a certificate authority and agent certificates for mutual TLS
    Tls {
        #[command(subcommand)]
        command: TlsCommand,
    },
    /// Run a new job or update an existing one (alias of `job run`)
    Run(job_run::Args),
    /// Display the status of jobs (alias of `job status`)
    Status(job_status::Args),
    /// Stop a running job (alias of `job stop`)
    Stop(job_stop::Args),
    /// Create an example job file (alias of `job init`)
    Init(job_init::Args),
    /// Check a job file (alias of `job validate`)
    Validate(job_validate::Args),
    /// Show what running a job file would change (alias of `job plan`)
    Plan(job_plan::Args),
    /// Display the queried agent's stats
    AgentInfo(agent_info::Args),
    /// Print the version
    Version,
}

#[derive(Subcommand, Debug)]
enum JobCommand {
    /// Create an example job file
    Init(job_init::Args),
    /// Check a job file for errors
    Validate(job_validate::Args),
    /// Run a new job or update an existing one
    Run(job_run::Args),
    /// Display the status of jobs
    Status(job_status::Args),
    /// Stop a running job
    Stop(job_stop::Args),
    /// Show what running a job file would change (a dry run of the scheduler)
    Plan(job_plan::Args),
    /// List a job's versions
    History(job_history::Args),
    /// Go back to an earlier version of a job
    Revert(job_revert::Args),
    /// Evaluate a job again (optionally rescheduling its failed allocations now)
    Eval(job_eval::Args),
    /// Change a group's count
    Scale(job_scale::Args),
    /// Print a job as the API holds it (JSON, or through a template)
    Inspect(job_inspect::Args),
    /// Run a child of a parameterized job, with meta and a payload
    Dispatch(job_dispatch::Args),
    /// Periodic jobs: launch one now
    #[command(subcommand)]
    Periodic(PeriodicCommand),
}

#[derive(Subcommand, Debug)]
enum PeriodicCommand {
    /// Launch a child of a periodic job now
    Force(job_periodic_force::Args),
}

#[derive(Subcommand, Debug)]
enum NamespaceCommand {
    /// Create or update a namespace
    Apply(namespace::ApplyArgs),
    /// List namespaces
    List(namespace::ListArgs),
    /// Show a namespace
    Status(namespace::StatusArgs),
    /// Delete a namespace (it must hold no job)
    Delete(namespace::NameArgs),
}

#[derive(Subcommand, Debug)]
enum VarCommand {
    /// Print a variable
    Get(var_get::Args),
    /// Create or update a variable
    Put(var_put::Args),
    /// List variables' paths
    List(var_list::Args),
    /// Delete a variable
    Purge(var_purge::Args),
    /// Run a command while holding a variable's lock
    Lock(var_lock::Args),
}

#[derive(Subcommand, Debug)]
enum SystemCommand {
    /// Collect terminal evaluations, allocations and deployments, dead jobs and down nodes now
    Gc(system_gc::Args),
}

#[derive(Subcommand, Debug)]
enum AllocCommand {
    /// Display an allocation's status
    Status(alloc_status::Args),
    /// Print a task's logs
    Logs(alloc_logs::Args),
    /// Stop an allocation; the scheduler replaces it
    Stop(alloc_stop::Args),
    /// List or read an allocation's files
    Fs(alloc_fs::Args),
    /// Run a command in a task's context
    Exec(alloc_exec::Args),
    /// Send a signal to an allocation's tasks
    Signal(alloc_signal::Args),
    /// Restart an allocation's tasks in place
    Restart(alloc_restart::Args),
}

#[derive(Subcommand, Debug)]
enum NodeCommand {
    /// Display client nodes
    Status(node_status::Args),
    /// Move a node's work elsewhere (or end that)
    Drain(node_drain::Args),
    /// Let a node take new work, or keep it off
    Eligibility(node_eligibility::Args),
    /// Create, list, inspect and delete node pools
    Pool {
        #[command(subcommand)]
        command: NodePoolCommand,
    },
}

#[derive(Subcommand, Debug)]
enum NodePoolCommand {
    /// Create or update a node pool from its file
    Apply(node_pool::ApplyArgs),
    /// List node pools
    List(node_pool::ListArgs),
    /// Show a node pool
    Info(node_pool::NameArgs),
    /// List the nodes of a node pool
    Nodes(node_pool::NodesArgs),
    /// List the jobs that place in a node pool
    Jobs(node_pool::NameArgs),
    /// Delete a node pool (it must have no node and no running job)
    Delete(node_pool::DeleteArgs),
}

#[derive(Subcommand, Debug)]
enum ServerCommand {
    /// Display the servers of the cluster
    Members(server_members::Args),
    /// Join this agent's server to the cluster of other servers
    Join(server_join::Args),
    /// Remove a failed server from the cluster
    ForceLeave(server_force_leave::Args),
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// Display an evaluation's status
    Status(eval_status::Args),
}

#[derive(Subcommand, Debug)]
enum DeploymentCommand {
    /// List deployments
    List(deployment_list::Args),
    /// Display a deployment's status
    Status(deployment_status::Args),
    /// Promote a deployment's canaries
    Promote(deployment_promote::Args),
    /// Mark a deployment failed (rolling back with auto_revert)
    Fail(deployment_fail::Args),
    /// Pause a deployment: it places nothing more until resumed
    Pause(deployment_pause::Args),
    /// Resume a paused deployment
    Resume(deployment_pause::Args),
}

#[derive(Subcommand, Debug)]
enum ServiceCommand {
    /// List the services in the catalog
    List(service_list::Args),
    /// Display the instances of a service
    Info(service_info::Args),
    /// Delete a service registration
    Delete(service_delete::Args),
}

#[derive(Subcommand, Debug)]
enum TemplateCommand {
    /// Render a template once against the live catalog and print it
    Render(template_render::Args),
}

#[derive(Subcommand, Debug)]
enum OperatorCommand {
    /// Inspect and change the servers' raft configuration
    Raft {
        #[command(subcommand)]
        command: RaftCommand,
    },
}

#[derive(Subcommand, Debug)]
enum RaftCommand {
    /// Display the raft peers and which one leads
    ListPeers(operator_raft_list_peers::Args),
    /// Remove a server from the raft configuration
    RemovePeer(operator_raft_remove_peer::Args),
}

#[derive(Subcommand, Debug)]
enum AclCommand {
    /// Make the first management token (works once per cluster)
    Bootstrap(acl_bootstrap::Args),
    /// Manage ACL policies
    Policy {
        #[command(subcommand)]
        command: AclPolicyCommand,
    },
    /// Manage ACL tokens
    Token {
        #[command(subcommand)]
        command: AclTokenCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AclPolicyCommand {
    /// Create or update a policy from an HCL rules file
    Apply(acl_policy_apply::Args),
    /// List the policies
    List(acl_policy_list::Args),
    /// Show a policy and its rules
    Info(acl_policy_info::Args),
    /// Delete a policy
    Delete(acl_policy_delete::Args),
}

#[derive(Subcommand, Debug)]
enum AclTokenCommand {
    /// Create a token (its secret is shown once)
    Create(acl_token_create::Args),
    /// List the tokens
    List(acl_token_list::Args),
    /// Show a token by accessor id
    Info(acl_token_info::Args),
    /// Show the token in use (NOMAD_TOKEN)
    #[command(name = "self")]
    SelfInfo(acl_token_info::SelfArgs),
    /// Delete a token
    Delete(acl_token_delete::Args),
}

#[derive(Subcommand, Debug)]
enum TlsCommand {
    /// Manage the certificate authority
    Ca {
        #[command(subcommand)]
        command: TlsCaCommand,
    },
    /// Manage agent and CLI certificates
    Cert {
        #[command(subcommand)]
        command: TlsCertCommand,
    },
}

#[derive(Subcommand, Debug)]
enum TlsCaCommand {
    /// Create a self-signed certificate authority in the current directory
    Create(tls_ca_create::Args),
}

#[derive(Subcommand, Debug)]
enum TlsCertCommand {
    /// Create a server, client or CLI certificate signed by the CA
    Create(tls_cert_create::Args),
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    // TLS settings come from Nomad's environment variables; a bad one (a CA file that cannot
    // be read) fails the first command that talks to an agent, not the ones that do not.
    let tls = api::client_tls::TlsOptions::from_env();
    let client = || -> anyhow::Result<Client> {
        let tls = tls.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Client::new_with_tls(&cli.address, tls.as_ref())
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_token(cli.token.clone())
            .with_namespace(cli.namespace.clone()))
    };
    match &cli.command {
        Command::Job { command } => match command {
            JobCommand::Init(a) => job_init::run(a),
            JobCommand::Validate(a) => job_validate::run(a),
            JobCommand::Run(a) => job_run::run(&client()?, a),
            JobCommand::Status(a) => job_status::run(&client()?, a),
            JobCommand::Stop(a) => job_stop::run(&client()?, a),
            JobCommand::Plan(a) => job_plan::run(&client()?, a),
            JobCommand::History(a) => job_history::run(&client()?, a),
            JobCommand::Revert(a) => job_revert::run(&client()?, a),
            JobCommand::Eval(a) => job_eval::run(&client()?, a),
            JobCommand::Scale(a) => job_scale::run(&client()?, a),
            JobCommand::Inspect(a) => job_inspect::run(&client()?, a),
            JobCommand::Dispatch(a) => job_dispatch::run(&client()?, a),
            JobCommand::Periodic(PeriodicCommand::Force(a)) => {
                job_periodic_force::run(&client()?, a)
            }
        },
        Command::Alloc { command } => match command {
            AllocCommand::Status(a) => alloc_status::run(&client()?, a),
            AllocCommand::Logs(a) => alloc_logs::run(&client()?, a),
            AllocCommand::Stop(a) => alloc_stop::run(&client()?, a),
            AllocCommand::Fs(a) => alloc_fs::run(&client()?, a),
            AllocCommand::Exec(a) => alloc_exec::run(&client()?, a),
            AllocCommand::Signal(a) => alloc_signal::run(&client()?, a),
            AllocCommand::Restart(a) => alloc_restart::run(&client()?, a),
        },
        Command::Node { command } => match command {
            NodeCommand::Status(a) => node_status::run(&client()?, a),
            NodeCommand::Drain(a) => node_drain::run(&client()?, a),
            NodeCommand::Eligibility(a) => node_eligibility::run(&client()?, a),
            NodeCommand::Pool { command } => match command {
                NodePoolCommand::Apply(a) => node_pool::apply(&client()?, a),
                NodePoolCommand::List(a) => node_pool::list(&client()?, a),
                NodePoolCommand::Info(a) => node_pool::info(&client()?, a),
                NodePoolCommand::Nodes(a) => node_pool::nodes(&client()?, a),
                NodePoolCommand::Jobs(a) => node_pool::jobs(&client()?, a),
                NodePoolCommand::Delete(a) => node_pool::delete(&client()?, a),
            },
        },
        Command::Server { command } => match command {
            ServerCommand::Members(a) => server_members::run(&client()?, a),
            ServerCommand::Join(a) => server_join::run(&client()?, a),
            ServerCommand::ForceLeave(a) => server_force_leave::run(&client()?, a),
        },
        Command::AgentInfo(a) => agent_info::run(&client()?, a),
        Command::Var { command } => match command {
            VarCommand::Get(a) => var_get::run(&client()?, a),
            VarCommand::Put(a) => var_put::run(&client()?, a),
            VarCommand::List(a) => var_list::run(&client()?, a),
            VarCommand::Purge(a) => var_purge::run(&client()?, a),
            VarCommand::Lock(a) => var_lock::run(&client()?, a),
        },
        Command::Namespace { command } => match command {
            NamespaceCommand::Apply(a) => namespace::apply(&client()?, a),
            NamespaceCommand::List(a) => namespace::list(&client()?, a),
            NamespaceCommand::Status(a) => namespace::status(&client()?, a),
            NamespaceCommand::Delete(a) => namespace::delete(&client()?, a),
        },
        Command::Eval {
            command: EvalCommand::Status(a),
        } => eval_status::run(&client()?, a),
        Command::Deployment { command } => match command {
            DeploymentCommand::List(a) => deployment_list::run(&client()?, a),
            DeploymentCommand::Status(a) => deployment_status::run(&client()?, a),
            DeploymentCommand::Promote(a) => deployment_promote::run(&client()?, a),
            DeploymentCommand::Fail(a) => deployment_fail::run(&client()?, a),
            DeploymentCommand::Pause(a) => deployment_pause::run(&client()?, a, true),
            DeploymentCommand::Resume(a) => deployment_pause::run(&client()?, a, false),
        },
        Command::Service { command } => match command {
            ServiceCommand::List(a) => service_list::run(&client()?, a),
            ServiceCommand::Info(a) => service_info::run(&client()?, a),
            ServiceCommand::Delete(a) => service_delete::run(&client()?, a),
        },
        Command::Template {
            command: TemplateCommand::Render(a),
        } => template_render::run(&client()?, a),
        Command::Operator {
            command: OperatorCommand::Raft { command },
        } => match command {
            RaftCommand::ListPeers(a) => operator_raft_list_peers::run(&client()?, a),
            RaftCommand::RemovePeer(a) => operator_raft_remove_peer::run(&client()?, a),
        },
        Command::System {
            command: SystemCommand::Gc(a),
        } => system_gc::run(&client()?, a),
        Command::Acl { command } => match command {
            AclCommand::Bootstrap(a) => acl_bootstrap::run(&client()?, a),
            AclCommand::Policy { command } => match command {
                AclPolicyCommand::Apply(a) => acl_policy_apply::run(&client()?, a),
                AclPolicyCommand::List(a) => acl_policy_list::run(&client()?, a),
                AclPolicyCommand::Info(a) => acl_policy_info::run(&client()?, a),
                AclPolicyCommand::Delete(a) => acl_policy_delete::run(&client()?, a),
            },
            AclCommand::Token { command } => match command {
                AclTokenCommand::Create(a) => acl_token_create::run(&client()?, a),
                AclTokenCommand::List(a) => acl_token_list::run(&client()?, a),
                AclTokenCommand::Info(a) => acl_token_info::run(&client()?, a),
                AclTokenCommand::SelfInfo(a) => acl_token_info::run_self(&client()?, a),
                AclTokenCommand::Delete(a) => acl_token_delete::run(&client()?, a),
            },
        },
        // Local files only: these never talk to an agent.
        Command::Tls { command } => match command {
            TlsCommand::Ca {
                command: TlsCaCommand::Create(a),
            } => tls_ca_create::run(a),
            TlsCommand::Cert {
                command: TlsCertCommand::Create(a),
            } => tls_cert_create::run(a),
        },
        Command::Run(a) => job_run::run(&client()?, a),
        Command::Status(a) => job_status::run(&client()?, a),
        Command::Stop(a) => job_stop::run(&client()?, a),
        Command::Init(a) => job_init::run(a),
        Command::Validate(a) => job_validate::run(a),
        Command::Plan(a) => job_plan::run(&client()?, a),
        Command::Version => {
            println!("nomadctl v{}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
    }
}

fn main() {
    let argv = args::normalize(std::env::args().collect(), &args::known_long_flags::<Cli>());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            // Help goes to stdout with success; usage errors exit 1, as Nomad's do.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn nomad_style_command_lines_parse() {
        let parse = |line: &str| {
            let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
            let argv = args::normalize(argv, &args::known_long_flags::<Cli>());
            Cli::try_parse_from(argv)
        };
        let cli =
            parse("nomadctl job run -detach -check-index 3 -address=http://h:1 web.hcl").unwrap();
        assert_eq!(cli.address, "http://h:1");
        match cli.command {
            Command::Job {
                command: JobCommand::Run(a),
            } => {
                assert!(a.monitor.detach);
                assert_eq!(a.check_index, Some(3));
            }
            other => panic!("{other:?}"),
        }
        let cli = parse("nomadctl alloc logs -stderr -f -tail -n 5 8ba8 server").unwrap();
        match cli.command {
            Command::Alloc {
                command: AllocCommand::Logs(a),
            } => {
                assert!(a.stderr && a.tail.follow && a.tail.tail);
                assert_eq!(a.tail.lines, Some(5));
                assert_eq!(a.task.as_deref(), Some("server"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("nomadctl stop -purge -yes example").is_ok());
        assert!(parse("nomadctl node status -verbose").is_ok());
        assert!(parse("nomadctl job status -all-allocs example").is_ok());
        assert!(parse("nomadctl job bogus").is_err());
        match parse("nomadctl operator raft list-peers -stale").map(|c| c.command) {
            Ok(Command::Operator {
                command:
                    OperatorCommand::Raft {
                        command: RaftCommand::ListPeers(a),
                    },
            }) => assert!(a.stale),
            other => panic!("{other:?}"),
        }
        let cli = parse("nomadctl operator raft remove-peer -peer-address=127.0.0.1:4647").unwrap();
        match cli.command {
            Command::Operator {
                command:
                    OperatorCommand::Raft {
                        command: RaftCommand::RemovePeer(a),
                    },
            } => {
                assert_eq!(a.peer_address.as_deref(), Some("127.0.0.1:4647"));
                assert_eq!(a.peer_id, None);
            }
            other => panic!("{other:?}"),
        }
        match parse("nomadctl tls ca create -name-constraint=true -domain foo.com -days 10")
            .map(|c| c.command)
        {
            Ok(Command::Tls {
                command:
                    TlsCommand::Ca {
                        command: TlsCaCommand::Create(a),
                    },
            }) => assert!(a.name_constraint && a.domain == "foo.com" && a.days == 10),
            other => panic!("{other:?}"),
        }
        let line = "nomadctl tls cert create -client -region r1 -additional-dnsname a \
                    -additional-dnsname b -additional-ipaddress 10.0.0.1 -ca x.pem -key k.pem";
        match parse(line).map(|c| c.command) {
            Ok(Command::Tls {
                command:
                    TlsCommand::Cert {
                        command: TlsCertCommand::Create(a),
                    },
            }) => {
                assert!(a.client && !a.server && !a.cli);
                assert_eq!(a.additional_dnsname, ["a", "b"]);
                assert_eq!(a.additional_ipaddress.len(), 1);
                assert_eq!(
                    (a.ca.as_deref(), a.key.as_deref()),
                    (Some("x.pem"), Some("k.pem"))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("nomadctl tls cert create -server -additional-ipaddress nope").is_err());
        let cli = parse("nomadctl operator raft remove-peer -peer-id 7").unwrap();
        match cli.command {
            Command::Operator {
                command:
                    OperatorCommand::Raft {
                        command: RaftCommand::RemovePeer(a),
                    },
            } => assert_eq!(a.peer_id.as_deref(), Some("7")),
            other => panic!("{other:?}"),
        }
    }
}
