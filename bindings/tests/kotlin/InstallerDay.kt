// The generated Kotlin bindings driven against a real Fieldsync server on the JVM: the same
// scenario an Android app runs. Environment: FIELDSYNC_SERVER_BIN; the library on
// jna.library.path.

import com.fieldsync.ChecklistUpdate
import com.fieldsync.ClientConfig
import com.fieldsync.FieldsyncClient
import com.fieldsync.FieldsyncException
import com.fieldsync.FieldsyncListener
import com.fieldsync.GeoPoint
import com.fieldsync.JobStatus
import com.fieldsync.SyncEvent
import com.fieldsync.SyncState
import com.fieldsync.VisitOutcome
import java.net.ServerSocket
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import kotlin.system.exitProcess

class Server(dir: java.nio.file.Path) {
    private val db = dir.resolve("server.sqlite3").toString()
    private val port = ServerSocket(0).use { it.localPort }
    val url = "http://127.0.0.1:$port"
    private var process: Process? = null
    private val http = HttpClient.newHttpClient()

    fun start() {
        val started = ProcessBuilder(System.getenv("FIELDSYNC_SERVER_BIN"), "serve", "--db", db, "--addr", "127.0.0.1:$port")
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start()
        val line = started.inputStream.bufferedReader().readLine() ?: ""
        check(line.contains("Fieldsync server on")) { "server did not start: $line" }
        process = started
    }

    fun stop() {
        process?.destroy()
        process?.waitFor()
        process = null
    }

    fun call(method: String, path: String, body: String?): String {
        val publisher = if (body == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(body)
        val request = HttpRequest.newBuilder(URI.create(url + path))
            .header("Content-Type", "application/json")
            .method(method, publisher)
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "$method $path: ${response.statusCode()} ${response.body()}" }
        return response.body()
    }
}

class Recorder : FieldsyncListener {
    val changed = mutableListOf<List<String>>()
    val events = mutableListOf<SyncEvent>()
    override fun jobsChanged(jobIds: List<String>) { changed.add(jobIds) }
    override fun syncProgressed(event: SyncEvent) { events.add(event) }
}

fun expect(condition: Boolean, what: String) {
    if (!condition) throw AssertionError(what)
}

inline fun <reified T : Throwable> expectThrows(what: String, block: () -> Unit) {
    try {
        block()
    } catch (e: Throwable) {
        if (e is T) return
        throw AssertionError("$what: expected ${T::class.simpleName}, got $e")
    }
    throw AssertionError("$what: expected ${T::class.simpleName}, nothing was thrown")
}

fun main() {
    val dir = Files.createTempDirectory("fieldsync-kotlin")
    val server = Server(dir)
    server.start()
    try {
        server.call("POST", "/v1/users", """{"id":"anna","name":"Anna","role":"installer"}""")
        val created = server.call("POST", "/v1/jobs", """{"kind":"repair","customer":{"name":"Ada","tier":"vip"},"checklist":[["power","Check power"]]}""")
        val job = Regex("\"id\":\"([^\"]+)\"").find(created)!!.groupValues[1]
        server.call("POST", "/v1/jobs/$job/assign", """{"assignee":"anna"}""")

        val config = ClientConfig(storePath = dir.resolve("phone.sqlite3").toString(), userId = "anna", serverUrl = server.url)
        FieldsyncClient.open(config).use { client ->
            val recorder = Recorder()
            client.subscribe(recorder).use {
                // 1. The job arrives; the listener hears about it.
                val summary = client.syncNow()
                expect(summary.updatedJobIds == listOf(job), "first sync brings the job: $summary")
                expect(recorder.events.first() is SyncEvent.Started && recorder.events.last() is SyncEvent.Finished, "sync events: ${recorder.events}")
                expect(recorder.changed.contains(listOf(job)), "jobs_changed was called")
                expect(client.allJobs().single().status == JobStatus.ASSIGNED, "assigned")

                // 2. Offline work, durable at once.
                server.stop()
                client.moveStatus(job, JobStatus.ON_SITE, GeoPoint(52.5, 13.4))
                client.updateChecklistItem(job, "power", ChecklistUpdate(done = true))
                client.appendNote(job, "Replaced the valve.")
                client.finishVisit(job, VisitOutcome(firstVisitSuccess = true, cause = "valve"), true)
                expect(client.syncState(job) == SyncState.SAVED_LOCALLY, "saved locally")
                expectThrows<FieldsyncException.Offline>("sync while offline") { client.syncNow() }
                expect(recorder.events.last() is SyncEvent.Failed, "failure reported to the listener")

                // 3. Back online.
                server.start()
                expect(client.syncNow().acceptedJobs == 1u, "accepted")
                expect(client.syncState(job) == SyncState.ACCEPTED, "accepted state")
                expect(client.outbox().depth == 0uL, "outbox drained")
                val onServer = server.call("GET", "/v1/jobs/$job", null)
                expect(onServer.contains("\"status\":\"completed\"") && onServer.contains("Replaced the valve."), "server holds the work: $onServer")

                // 4. Errors arrive as exceptions.
                expectThrows<FieldsyncException.NotFound>("unknown job") { client.job("no-such-job") }
                expectThrows<FieldsyncException.NotAllowed>("rating out of range") { client.setRating(job, 9u, "") }
            }
            // 5. The subscription is closed: no more calls.
            val before = Recorder()
            val subscription = client.subscribe(before)
            subscription.cancel()
            client.appendNote(job, "after cancel")
            expect(before.changed.isEmpty(), "cancelled listener was called")
        }
        println("kotlin: 1 passed, 0 failed")
    } catch (e: Throwable) {
        e.printStackTrace()
        println("kotlin: 0 passed, 1 failed")
        server.stop()
        exitProcess(1)
    }
    server.stop()
}
