"""Apache Kafka as a single-node KRaft broker+controller on loopback, from Maven Central jars and Java 17."""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from esup.settings import Settings
from esup.stack import process
from esup.stack.base import TEMPLATES, ServerProcess, State, Status, render
from esup.stack.errors import StackError

MIN_JAVA = 17


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64. One in 64 of those starts with '-', which the
    storage tool's argument parser took for an option (a CI run failed on it): such ids are drawn again."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


class KafkaLauncher(ServerProcess):
    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.libs = self.dir / "libs"
        self.properties = self.dir / "server.properties"
        self.marker = self.properties

    # ---- install ------------------------------------------------------------------------------------

    def _stamp(self) -> Path:
        return self.libs / ".installed"

    def installed(self) -> bool:
        stamp = self._stamp()
        return stamp.is_file() and stamp.read_text().strip() == self.s.kafka_version

    def _java(self) -> str:
        hint = f"install a Java {MIN_JAVA}+ runtime, e.g. `apt-get install openjdk-17-jre-headless`"
        java = process.require_binary(self.name, self.s.java, "Java", hint)
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
        m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
        major = int(m.group(1)) if m else 0
        if major == 1 and m and m.group(2):  # "1.8.0" style
            major = int(m.group(2))
        if major < MIN_JAVA:
            raise StackError(self.name, f"Java {MIN_JAVA}+ needed, {java} is {major or 'unknown'}",
                             "install openjdk-17-jre-headless or set ESUP_JAVA to a newer java")
        return java

    def install(self) -> None:
        """Copy the broker's runtime jars from Maven Central into .esup/kafka/libs (once per version)."""
        if self.installed():
            return
        self._java()
        mvn = process.require_binary(self.name, self.s.mvn, "Maven", "install it: `apt-get install maven`")
        process.require_disk(self.name, self.dir, self.s.min_free_disk_mb)
        staging = self.dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        # Run from a copy of the pom so Maven's target/ lands under .esup, not in the source tree.
        build = self.dir / "build"
        build.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATES / "kafka" / "pom.xml", build / "pom.xml")
        cmd = [mvn, "-B", "-q", f"-Dkafka.version={self.s.kafka_version}", "dependency:copy-dependencies",
               "-DincludeScope=runtime", f"-DoutputDirectory={staging}"]
        result = subprocess.run(cmd, cwd=build, capture_output=True, text=True)
        if result.returncode != 0 or not (staging / f"kafka_2.13-{self.s.kafka_version}.jar").is_file():
            lines = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise StackError(self.name, f"Maven could not fetch Kafka {self.s.kafka_version}:\n{lines}",
                             "check that Maven Central is reachable and the version exists")
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
            admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{self.s.kafka_port}", request_timeout_ms=5000,
                                     bootstrap_timeout_ms=5000, client_id="esup-stack")
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

    def _format(self, java: str) -> None:
        if (self.data / "meta.properties").is_file():
            return
        id_file = self.dir / "cluster.id"
        if not id_file.is_file() or id_file.read_text().startswith("-"):
            id_file.write_text(new_cluster_id() + "\n")
        cmd = [java, "-cp", f"{self.libs}/*", f"-Dlog4j.configuration=file:{TEMPLATES / 'kafka' / 'log4j.properties'}",
               f"-Dkafka.logs.dir={self.logs}", "kafka.tools.StorageTool", "format",
               f"--cluster-id={id_file.read_text().strip()}", "-c", str(self.properties), "--ignore-formatted"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise StackError(self.name, f"formatting {self.data} failed:\n{result.stdout}{result.stderr}")

    def start(self) -> Status:
        if self._pid() is not None:
            return self.status(note="already running")
        java = self._java()
        for port, setting in ((self.s.kafka_port, "ESUP_KAFKA_PORT"),
                              (self.s.kafka_controller_port, "ESUP_KAFKA_CONTROLLER_PORT")):
            process.require_port_free(self.name, "127.0.0.1", port, setting)
        process.require_disk(self.name, self.dir, self.s.min_free_disk_mb)
        self.install()
        render("kafka/server.properties", self.properties,
               {"port": self.s.kafka_port, "controller_port": self.s.kafka_controller_port, "data_dir": self.data})
        self.logs.mkdir(parents=True, exist_ok=True)
        self._format(java)
        cmd = [java, f"-Xms{self.s.kafka_heap}", f"-Xmx{self.s.kafka_heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
               f"-Dlog4j.configuration=file:{TEMPLATES / 'kafka' / 'log4j.properties'}",
               f"-Dkafka.logs.dir={self.logs}", "-cp", f"{self.libs}/*", "kafka.Kafka", str(self.properties)]
        self._launch(cmd, [self.logs / "server.log", self.logs / "stdout.log"])
        return self.status(note="started")

    def stop(self) -> Status:
        return self.status(note="stopped" if self._stop() else "was not running")

    def status(self, note: str = "") -> Status:
        pid = self._pid()
        state: State = "running" if pid else ("stopped" if self.installed() else "not installed")
        return Status(
            self.name, state, pid,
            (f"PLAINTEXT 127.0.0.1:{self.s.kafka_port}", f"controller 127.0.0.1:{self.s.kafka_controller_port}"),
            (self.logs / "server.log",), note,
        )
