"""Apache Kafka as a single-node KRaft broker+controller on loopback, from Maven Central jars and Java 17."""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import secrets
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from esup import kafka_auth
from esup.settings import Settings
from esup.stack import process
from esup.stack.base import TEMPLATES, ServerProcess, State, Status, render
from esup.stack.errors import StackError

MIN_JAVA = 17
BROKER = "broker"  # the inter-broker (and broker-to-controller) identity; a super user like admin
SCRAM_MARK = "SCRAM-SHA-512"  # written to <kafka>/security once the data dir holds the SCRAM users


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64. One in 64 of those starts with '-', which the
    storage tool's argument parser took for an option (a CI run failed on it): such ids are drawn again."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


class KafkaLauncher(ServerProcess):
    """The local Kafka broker's launcher: jars, properties, data and logs under <home>."""

    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.libs = self.dir / "libs"
        self.properties = self.dir / "server.properties"
        self.marker = self.properties
        self.security_mark = self.dir / "security"

    # ---- install ------------------------------------------------------------------------------------

    def _stamp(self) -> Path:
        return self.libs / ".installed"

    def installed(self) -> bool:
        """Whether the jars of the configured Kafka version are installed."""
        stamp = self._stamp()
        return stamp.is_file() and stamp.read_text().strip() == self.s.kafka_version

    def java(self) -> str:
        """The Java runtime to start servers with, checked to be new enough (also ZooKeeper's, in the cluster)."""
        hint = f"install a Java {MIN_JAVA}+ runtime, e.g. `apt-get install openjdk-17-jre-headless`"
        java = process.require_binary(self.name, self.s.java, "Java", hint)
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
        m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
        major = int(m.group(1)) if m else 0
        if major == 1 and m and m.group(2):  # "1.8.0" style
            major = int(m.group(2))
        if major < MIN_JAVA:
            raise StackError(
                self.name,
                f"Java {MIN_JAVA}+ needed, {java} is {major or 'unknown'}",
                "install openjdk-17-jre-headless or set ESUP_JAVA to a newer java",
            )
        return java

    def install(self) -> None:
        """Copy the broker's runtime jars from Maven Central into .esup/kafka/libs (once per version)."""
        if self.installed():
            return
        self.java()
        mvn = process.require_binary(self.name, self.s.mvn, "Maven", "install it: `apt-get install maven`")
        process.require_disk(self.name, self.dir, self.s.min_free_disk_mb)
        staging = self.dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        # Run from a copy of the pom so Maven's target/ lands under .esup, not in the source tree.
        build = self.dir / "build"
        build.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATES / "kafka" / "pom.xml", build / "pom.xml")
        cmd = [
            mvn,
            "-B",
            "-q",
            f"-Dkafka.version={self.s.kafka_version}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(cmd, cwd=build, capture_output=True, text=True)
        if result.returncode != 0 or not (staging / f"kafka_2.13-{self.s.kafka_version}.jar").is_file():
            lines = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise StackError(
                self.name,
                f"Maven could not fetch Kafka {self.s.kafka_version}:\n{lines}",
                "check that Maven Central is reachable and the version exists",
            )
        (staging / ".installed").write_text(self.s.kafka_version + "\n")
        # Swap in whole: an interrupted download never looks installed.
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)

    # ---- run ----------------------------------------------------------------------------------------

    def _answers(self) -> bool:
        if not process.port_answers("127.0.0.1", self.s.kafka_port):
            return False
        from kafka.admin import KafkaAdminClient

        # kafka-python logs every refused connection while the broker warms up; the wait loop says enough.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=f"127.0.0.1:{self.s.kafka_port}",
                request_timeout_ms=5000,
                bootstrap_timeout_ms=5000,
                client_id="esup-stack",
                **kafka_auth.kafka_python_auth(self.s, kafka_auth.ADMIN),
            )
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            with contextlib.suppress(Exception):
                admin.close()

    def _scram(self) -> bool:
        return self.s.kafka_security_protocol != "PLAINTEXT"

    def _password(self, principal: str) -> str | None:
        try:
            creds = kafka_auth.credentials(
                self.s.model_copy(update={"kafka_security_protocol": "SASL_PLAINTEXT"}), principal
            )
        except kafka_auth.CredentialError:
            return None
        return creds[1] if creds else None

    def _formatted_for_scram(self) -> bool:
        mark = self.security_mark.read_text().strip() if self.security_mark.is_file() else "PLAINTEXT"
        return mark == SCRAM_MARK and None not in (self._password(BROKER), self._password(kafka_auth.ADMIN))

    def _security(self) -> tuple[str, str]:
        """The client listener's protocol and the properties that turn on SCRAM, ACLs and TLS."""
        if not self._scram():
            return "PLAINTEXT", "# PLAINTEXT: no login, no authorizer (ESUP_KAFKA_SECURITY_PROTOCOL=PLAINTEXT)"
        password = self._password(BROKER)
        if password is None:
            password = secrets.token_urlsafe(24)
            kafka_auth.write_credentials(self.s, BROKER, password)
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        lines = [
            "listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            f'listener.name.client.scram-sha-512.sasl.jaas.config={scram} required username="{BROKER}" '
            f'password="{password}";',
            # SCRAM cannot authenticate to a KRaft controller (KAFKA-15513): PLAIN on loopback, only the broker
            # knows it, so the controller never sees an anonymous (hence super) user.
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f'listener.name.controller.plain.sasl.jaas.config={plain} required username="{BROKER}" '
            f'password="{password}" user_{BROKER}="{password}";',
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{BROKER};User:{kafka_auth.ADMIN}",
            "allow.everyone.if.no.acl.found=false",
        ]
        if self.s.kafka_security_protocol == "SASL_SSL":
            from esup.stack.tls import ensure_broker_tls

            tls = ensure_broker_tls(self.s.home / "tls")
            lines += [
                "ssl.keystore.type=PKCS12",
                f"ssl.keystore.location={tls.keystore}",
                f"ssl.keystore.password={tls.keystore_password}",
                f"ssl.key.password={tls.keystore_password}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={tls.ca}",
                "ssl.endpoint.identification.algorithm=https",
            ]
        return self.s.kafka_security_protocol, "\n".join(lines)

    def _format(self, java: str) -> str:
        """Format the data dir once; a dir formatted without SCRAM users is wiped and formatted again."""
        note = ""
        if (self.data / "meta.properties").is_file():
            if not self._scram() or self._formatted_for_scram():
                return note
            # A dev stack from before authentication: its brokers' users cannot be added afterwards
            # (KRaft takes the broker's SCRAM user at format time), so its data goes.
            note = f"re-formatted {self.data}: it was formatted without SCRAM users (its topics are gone)"
            print(f"kafka: {note}", file=sys.stderr)  # noqa: T201 - told to the operator before the data goes
            shutil.rmtree(self.data)
            self.security_mark.unlink(missing_ok=True)
        id_file = self.dir / "cluster.id"
        if not id_file.is_file() or id_file.read_text().startswith("-"):
            id_file.write_text(new_cluster_id() + "\n")
        cmd = [
            java,
            "-cp",
            f"{self.libs}/*",
            f"-Dlog4j.configuration=file:{TEMPLATES / 'kafka' / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.logs}",
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={id_file.read_text().strip()}",
            "-c",
            str(self.properties),
            "--ignore-formatted",
        ]
        if self._scram():
            admin = self._password(kafka_auth.ADMIN)
            if admin is None:
                admin = secrets.token_urlsafe(24)
                kafka_auth.write_credentials(self.s, kafka_auth.ADMIN, admin)
            for user in (BROKER, kafka_auth.ADMIN):
                cmd += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={self._password(user)}]"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise StackError(self.name, f"formatting {self.data} failed:\n{result.stdout}{result.stderr}")
        self.security_mark.write_text((SCRAM_MARK if self._scram() else "PLAINTEXT") + "\n")
        return note

    def start(self) -> Status:
        """Start the broker unless it runs (formatting its storage first when needed); checks ports and disk first."""
        if self._pid() is not None:
            if self._scram() and not self._formatted_for_scram():
                return self.status(
                    note="already running WITHOUT SCRAM users: `esup stack down kafka` and up again to re-format it"
                )
            return self.status(note="already running")
        java = self.java()
        for port, setting in (
            (self.s.kafka_port, "ESUP_KAFKA_PORT"),
            (self.s.kafka_controller_port, "ESUP_KAFKA_CONTROLLER_PORT"),
        ):
            process.require_port_free(self.name, "127.0.0.1", port, setting)
        process.require_disk(self.name, self.dir, self.s.min_free_disk_mb)
        self.install()
        protocol, security = self._security()
        # 0600: it holds the broker's password (and the keystore's).
        render(
            "kafka/server.properties",
            self.properties,
            {
                "port": self.s.kafka_port,
                "controller_port": self.s.kafka_controller_port,
                "data_dir": self.data,
                "protocol": protocol,
                "security": security,
                "controller_protocol": "SASL_PLAINTEXT" if self._scram() else "PLAINTEXT",
            },
            private=True,
        )
        self.logs.mkdir(parents=True, exist_ok=True)
        formatted = self._format(java)
        cmd = [
            java,
            f"-Xms{self.s.kafka_heap}",
            f"-Xmx{self.s.kafka_heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{TEMPLATES / 'kafka' / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.logs}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.properties),
        ]
        self._launch(cmd, [self.logs / "server.log", self.logs / "stdout.log"])
        return self.status(note="started" + (f"; {formatted}" if formatted else ""))

    def stop(self) -> Status:
        """Stop the broker if it is running."""
        return self.status(note="stopped" if self._stop() else "was not running")

    def status(self, note: str = "") -> Status:
        """The broker's state, pid, client and controller endpoints, and server log."""
        pid = self._pid()
        state: State = "running" if pid else ("stopped" if self.installed() else "not installed")
        return Status(
            self.name,
            state,
            pid,
            (
                f"{self.s.kafka_security_protocol} 127.0.0.1:{self.s.kafka_port}",
                f"controller 127.0.0.1:{self.s.kafka_controller_port}",
            ),
            (self.logs / "server.log",),
            note,
        )
