# A system job, in the spirit of the original lab's fabio job: one copy on every client, run by
# the exec driver (its own namespaces, a chroot of the host's /usr, the user nobody) from an
# artifact pinned by its checksum. Each copy answers which node served the request, behind the
# servers' nginx at http://192.168.10.11/node-info/.
#
#     nomadctl job run /vagrant/jobs/node-info.nomad.hcl
#     curl http://192.168.10.11/node-info/   # again and again: the node changes

job "node-info" {
  datacenters = ["*"]
  type        = "system"

  group "node-info" {
    network {
      port "http" {}
    }

    service {
      name     = "node-info"
      port     = "http"
      provider = "nomad"

      check {
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "node-info" {
      driver = "exec"

      artifact {
        source      = "http://192.168.10.11/artifacts/node-info.py"
        destination = "local/"
        mode        = "file"

        options {
          checksum = "sha256:59f3799196682ea3a136c75f13899caeea6ff05fdc5c8276813ed2f3d985c84b"
        }
      }

      config {
        command = "/usr/bin/python3"
        args    = ["local/node-info.py", "${node.unique.name}"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
