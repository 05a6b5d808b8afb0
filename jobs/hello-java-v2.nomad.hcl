# hello-java, version 2: the same job with a new argument. Running it after hello-java.nomad.hcl
# replaces the two copies one at a time (update.max_parallel = 1).
#
# Without internet or a registry, build the jar and serve it over loopback first:
#
#     scripts/build-local-images
#     python3 -m http.server 8000 --bind 127.0.0.1 --directory jobs/build &
#     nomadctl job run jobs/hello-java.nomad.hcl
#
# Pin the artifact with its checksum (scripts/build-local-images prints it) by adding
#     options { checksum = "sha256:<hex>" }
# to the artifact block: a mismatch then fails the task with an event that says so.

job "hello-java" {
  datacenters = ["*"]
  type        = "service"

  update {
    max_parallel     = 1
    min_healthy_time = "5s"
    healthy_deadline = "2m"
  }

  group "web" {
    count = 2

    network {
      port "http" {}
    }

    service {
      name     = "hello-java"
      port     = "http"
      provider = "nomad"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "server" {
      driver = "java"

      artifact {
        source      = "http://127.0.0.1:8000/hello-java.jar"
        destination = "local/"
        mode        = "file"
      }

      config {
        jar_path    = "local/hello-java.jar"
        jvm_options = ["-Xss512k"]
        args        = ["v2"]
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
