# hello-java, version 2: the same job with a new argument. After hello-java.nomad.hcl, plan it to
# see the change, then run it with the plan's check-index: the two copies are replaced one at a
# time (update.max_parallel = 1), each after the new one is healthy.
#
#     nomadctl job plan /vagrant/jobs/hello-java-v2.nomad.hcl
#     nomadctl job run -check-index <index> /vagrant/jobs/hello-java-v2.nomad.hcl

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
        args        = ["v2"]
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
