# An example job, as written by `nomadctl job init`.
#
# A job is the unit you submit: it declares what to run and how many copies, and the scheduler
# decides where. Run it with:
#
#     nomadctl job run example.nomad.hcl
#
# Every block below is optional unless marked otherwise; delete what you do not need.

job "example" {
  # "service" jobs run until stopped and are restarted when they fail; "batch" jobs run to
  # completion; "system" jobs run one copy on every eligible client.
  type = "service"

  # Datacenters the job may be placed in. "*" matches every datacenter.
  datacenters = ["*"]

  # How a new version of the job replaces the running allocations.
  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    healthy_deadline = "3m"
    auto_revert      = false
  }

  # A group is a set of tasks placed together on one client. `count` is the number of copies.
  group "web" {
    count = 1

    # Ask for a port labelled "http". With no `static` value the scheduler picks a free one and
    # the task finds it in $NOMAD_PORT_http.
    network {
      port "http" {}
    }

    # What to do when a task exits with an error: try again twice within 30 minutes, waiting
    # 15 seconds in between, then give up and let the scheduler reschedule the allocation.
    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    # Register the port in the service catalog (`nomadctl service info example-web`), and check
    # that something answers on it. The loop below does not listen, so its check stays critical
    # and a proxy rendered from the catalog leaves it out: replace the loop with a server.
    service {
      name     = "example-web"
      port     = "http"
      provider = "nomad"

      check {
        name     = "alive"
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    # A task is one process run by a driver. raw_exec runs a command without isolation; it is
    # enabled by `nomad-agent --dev`.
    task "server" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do echo \"hello from $NOMAD_ALLOC_ID on port $NOMAD_PORT_http\"; sleep 5; done"]
      }

      env {
        GREETING = "hello"
      }

      # CPU in MHz and memory in MB reserved for the task.
      resources {
        cpu    = 100
        memory = 64
      }

      # Keep at most 3 log files of 10 MB each for stdout and for stderr.
      logs {
        max_files     = 3
        max_file_size = 10
      }
    }
  }
}
