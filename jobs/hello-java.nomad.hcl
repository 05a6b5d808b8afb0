# The lab's hello-java: a jar fetched as an artifact, run by the java driver, two copies behind
# the servers' nginx at http://192.168.10.11/hello-java/.
#
# The jar is served by the servers' nginx (/artifacts/, from jobs/artifacts/ through the proxy
# role), so the lab needs nothing from the internet. Its checksum is pinned: a different file fails
# the task with an event that says so. scripts/build-lab-artifacts rebuilds it and prints the sum.
#
#     nomadctl job run /vagrant/jobs/hello-java.nomad.hcl

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
        source      = "http://192.168.10.11/artifacts/hello-java.jar"
        destination = "local/"
        mode        = "file"

        options {
          checksum = "sha256:946d96688cb340c500c0522e0dffe96387dc16b2f55e95df370d6efb29560993"
        }
      }

      config {
        jar_path    = "local/hello-java.jar"
        jvm_options = ["-Xss512k"]
        args        = ["v1"]
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
