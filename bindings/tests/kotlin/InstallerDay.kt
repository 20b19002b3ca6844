// The generated Kotlin bindings driven against a real Fieldsync server on the JVM: the same
// scenario an Android app runs. Environment: FIELDSYNC_SERVER_BIN; the library on
// jna.library.path. The server runs with FIELDSYNC_ADMIN_PASSWORD set, so it creates its `admin`
// with a known password instead of printing a generated one.

import com.fieldsync.ChecklistUpdate
import com.fieldsync.ClientConfig
import com.fieldsync.FieldsyncClient
import com.fieldsync.FieldsyncException
import com.fieldsync.FieldsyncListener
import com.fieldsync.GeoPoint
import com.fieldsync.HitKind
import com.fieldsync.Reminder
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

const val ADMIN_PASSWORD = "admin-test-password"
const val DISPATCH_PASSWORD = "dispatch-test-password"

/** The first `"key":"value"` string in a JSON object. */
fun jsonString(json: String, key: String): String =
    Regex("\"$key\":\"([^\"]+)\"").find(json)?.groupValues?.get(1) ?: error("no \"$key\" in $json")

class Server(dir: java.nio.file.Path) {
    private val db = dir.resolve("server.sqlite3").toString()
    private val port = ServerSocket(0).use { it.localPort }
    val url = "http://127.0.0.1:$port"
    private var process: Process? = null
    private val http = HttpClient.newHttpClient()
    /** The session token of whoever signed in last; every call carries it. */
    private var token: String? = null

    fun start() {
        val builder = ProcessBuilder(System.getenv("FIELDSYNC_SERVER_BIN"), "serve", "--db", db, "--addr", "127.0.0.1:$port")
            .redirectError(ProcessBuilder.Redirect.DISCARD)
        builder.environment()["FIELDSYNC_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        val started = builder.start()
        val line = started.inputStream.bufferedReader().readLine() ?: ""
        check(line.contains("Fieldsync server on")) { "server did not start: $line" }
        process = started
    }

    fun stop() {
        process?.destroy()
        process?.waitFor()
        process = null
    }

    /** Signs an office user in; later calls go as them (sessions outlive a server restart). */
    fun signIn(user: String, password: String) {
        token = null
        token = jsonString(call("POST", "/v1/auth/login", """{"user":"$user","password":"$password"}"""), "token")
    }

    fun call(method: String, path: String, body: String?): String {
        val publisher = if (body == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(body)
        val builder = HttpRequest.newBuilder(URI.create(url + path))
            .header("Content-Type", "application/json")
            .method(method, publisher)
        token?.let { builder.header("Authorization", "Bearer $it") }
        val request = builder.build()
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
    val reminders = mutableListOf<Reminder>()
    override fun remindersArrived(reminders: List<Reminder>) { this.reminders.addAll(reminders) }
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
        server.signIn("admin", ADMIN_PASSWORD)
        server.call("POST", "/v1/users", """{"id":"anna","name":"Anna","role":"installer"}""")
        server.call("POST", "/v1/users", """{"id":"dispatch","name":"Dora","role":"dispatcher","password":"$DISPATCH_PASSWORD"}""")
        // The admin may read jobs but not edit them: dispatch does the rest.
        server.signIn("dispatch", DISPATCH_PASSWORD)
        val created = server.call("POST", "/v1/jobs", """{"kind":"repair","customer":{"name":"Ada","tier":"vip"},"site":{"address":"1 Main Street","lat":31.2286,"lon":121.5265},"problem":{"category":"no heat","description":"Radiators cold"},"checklist":[["power","Check power"]]}""")
        val job = jsonString(created, "id")
        server.call("POST", "/v1/jobs/$job/assign", """{"assignee":"anna"}""")

        val config = ClientConfig(storePath = dir.resolve("phone.sqlite3").toString(), userId = "anna", serverUrl = server.url)
        FieldsyncClient.open(config).use { client ->
            // 0. The phone is enrolled with a one-time code from dispatch.
            val code = jsonString(server.call("POST", "/v1/enrollments", """{"user":"anna"}"""), "code")
            client.enroll(code)
            val recorder = Recorder()
            client.subscribe(recorder).use {
                // 1. The job arrives; the listener hears about it.
                val summary = client.syncNow()
                expect(summary.updatedJobIds == listOf(job), "first sync brings the job: $summary")
                expect(recorder.events.first() is SyncEvent.Started && recorder.events.last() is SyncEvent.Finished, "sync events: ${recorder.events}")
                expect(recorder.changed.contains(listOf(job)), "jobs_changed was called")
                expect(client.job(job).sitePosition == GeoPoint(31.2286, 121.5265), "the site's position arrives")
                expect(client.allJobs().single().status == JobStatus.ASSIGNED, "assigned")
                // A fresh job is on time: no reminder for Anna, none heard.
                expect(client.reminders().isEmpty() && recorder.reminders.isEmpty(), "no reminders: ${client.reminders()}")
                // The job's customer came with it.
                expect(summary.customersChanged, "the customer card arrived: $summary")
                val card = client.customerCard(job)
                expect(card?.name == "Ada" && card.tier == "vip" && card.jobs.map { it.jobId } == listOf(job), "customer card: $card")

                // 2. Offline work, durable at once.
                server.stop()
                expect(client.customerCard(job) == card, "the customer is readable offline")
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

            // 6. Offline knowledge and signing: a tip found without its accent as it is typed; the
            // signed report and the signature image wait on the phone for upload.
            val tip = client.addTip("HP-300", "Vérifier la soupape")
            expect(client.search("verif", 10u).map { it.kind to it.reference } == listOf(HitKind.TIP to tip.id), "tip found by a prefix without accents")
            expect(String(client.previewReport(job, "Ada"), 0, 4, Charsets.US_ASCII) == "%PDF", "the preview is a PDF")
            val image = byteArrayOf(0x89.toByte(), 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3)
            val signature = client.sign(job, image, "image/png", "Ada")
            expect(client.job(job).signature == signature, "the job holds the signature")
            val report = client.blob(signature.reportSha256) ?: error("the signed report is not on the phone")
            expect(String(report, 0, 4, Charsets.US_ASCII) == "%PDF", "the signed report is a PDF")
            expect(client.pendingMedia().map { it.sha256 }.toSet() == setOf(signature.image.sha256, signature.reportSha256), "report and image wait for upload")
            client.setStorageBudget(1uL)
            expect(client.storageUsage().unsentMedia == (report.size + image.size).toULong(), "unsent media are never evicted")
        }
        // 7. On a Chinese phone a refusal explains itself in Chinese, with its code and parts.
        FieldsyncClient.open(config.copy(locale = "zh-CN", deviceCredential = null)).use { client ->
            try {
                client.moveStatus(job, JobStatus.CLOSED, null)
                throw AssertionError("an installer closed a job")
            } catch (e: FieldsyncException.NotAllowed) {
                expect(e.code == "transition_not_allowed", "code: ${e.code}")
                expect(e.params["to"] == "closed" && e.params["role"] == "installer", "params: ${e.params}")
                expect(e.reason == "工程师不能把工单从“已完成”改为“已关闭”", "reason: ${e.reason}")
            }
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
