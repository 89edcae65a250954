using System.Text;
using System.Text.Json.Nodes;
using QemuTestKit.Cli.Tests.Support;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Cli.Tests;

/// <summary><c>qemutestkit bundle info|verify</c> on small synthetic bundles, run as the real CLI process.</summary>
public sealed class BundleCommandTests : IDisposable
{
    private const int Failure = 1;
    private const int Usage = 2;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Expected = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<CliResult> RunAsync(params string[] args) =>
        CliRunner.RunAsync(["bundle", .. args], _temp.File("cache"), Limit, cancellationToken: Ct);

    private static string[] Lines(string text) => text.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Info_shows_test_failure_qemu_machine_checkpoints_transcript_timings_and_files()
    {
        var bundle = await BundleSamples.WriteAsync(_temp, externalKernel: true);

        var result = await RunAsync("info", bundle);

        result.ExitCode.Should().Be(0, result.ToString());
        result.Stderr.Should().BeEmpty();
        var lines = Lines(result.Stdout);
        lines[0].Should().Be($"bundle:      {bundle} (schema 1, created 2026-03-01 12:00:10Z)");
        lines.Should().Contain("test:        Guest.Tests.LoginTests.Root_can_log_in (failed)");
        lines.Should().Contain("failure:     expected 'root#'");
        lines.Should().Contain("             but the console showed 'login:'");
        lines.Should().Contain($"qemu:        7.2.22 (Debian 1:7.2+dfsg-7+deb12u18), /usr/bin/qemu-system-x86_64, sha256 {BundleSamples.QemuSha256[..16]}...");
        lines.Should().Contain("machine:     hello, q35, 256 MiB (x86_64, tcg, icount shift 5)");
        lines.Should().Contain("start:       snapshot 'ready'");
        lines.Should().Contain("checkpoints: 2");
        lines.Should().Contain(l => l.StartsWith("  after-login  icount 1234567", StringComparison.Ordinal) && l.EndsWith("transcript offset 12", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("transcript:  transcript.txt, 30 bytes, sha256 ", StringComparison.Ordinal));
        lines.Should().Contain("timings:     recorded for 3.50 s, 2026-03-01 12:00:00Z to 2026-03-01 12:00:03Z");
        lines.Should().Contain(l => l.StartsWith("files:       4, 312.6 KiB", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("  state.qcow2", StringComparison.Ordinal) && l.Contains("state-image", StringComparison.Ordinal) && l.EndsWith("293.0 KiB", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("state image: state.qcow2: cannot list its parts: cannot read ", StringComparison.Ordinal)
            && l.Contains("it is not a qcow2 image", StringComparison.Ordinal), "the sample's state image is random bytes: said in one line, not a stack trace");
        lines.Should().Contain("external:    1");
        lines.Should().Contain(l => l.StartsWith($"  {_temp.File("run")}/vmlinuz  kernel  48.8 KiB  sha256 ", StringComparison.Ordinal) && l.EndsWith("(present)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Info_json_prints_the_normalized_bundle_json()
    {
        var bundle = await BundleSamples.WriteAsync(_temp);

        var result = await RunAsync("info", bundle, "--json");

        result.ExitCode.Should().Be(0, result.ToString());
        var json = JsonNode.Parse(result.Stdout)!.AsObject();
        json["kind"]!.GetValue<string>().Should().Be("qemutestkit-replay");
        json["schemaVersion"]!.GetValue<int>().Should().Be(1);
        json["files"]!.AsArray().Should().HaveCount(5);
        json["spec"]!["name"]!.GetValue<string>().Should().Be("hello");
        var onDisk = BundleManifestJson.Parse(await File.ReadAllBytesAsync(Path.Combine(bundle, "bundle.json"), Ct), bundle);
        result.Stdout.TrimEnd().Should().Be(BundleManifestJson.Serialize(onDisk));
    }

    [Fact]
    public async Task Info_opens_the_zip_form()
    {
        var bundle = await BundleSamples.WriteAsync(_temp, zip: true);

        var result = await RunAsync("info", bundle + ".zip");

        result.ExitCode.Should().Be(0, result.ToString());
        Lines(result.Stdout)[0].Should().StartWith($"bundle:      {bundle}.zip (schema 1");
    }

    [Fact]
    public async Task Verify_of_an_intact_bundle_exits_0_with_the_verdict_as_last_line()
    {
        var bundle = await BundleSamples.WriteAsync(_temp);

        var result = await RunAsync("verify", bundle);

        result.ExitCode.Should().Be(0, result.ToString());
        result.Stderr.Should().BeEmpty();
        Lines(result.Stdout).Should().Equal("bundle: intact (5 files, 361.4 KiB)");
    }

    [Fact]
    public async Task Verify_of_a_damaged_bundle_prints_each_problem_and_exits_1()
    {
        var bundle = await BundleSamples.WriteAsync(_temp);
        var transcript = Path.Combine(bundle, "transcript.txt");
        var bytes = await File.ReadAllBytesAsync(transcript, Ct);
        bytes[3] ^= 1;
        await File.WriteAllBytesAsync(transcript, bytes, Ct);
        File.Delete(Path.Combine(bundle, "replay.bin"));

        var result = await RunAsync("verify", bundle);

        result.ExitCode.Should().Be(Failure, result.ToString());
        result.Stderr.Should().BeEmpty("a damaged bundle is a verdict, not an error");
        var lines = Lines(result.Stdout);
        lines.Should().HaveCount(3);
        lines.Should().Contain("missing: replay.bin (replay-log)");
        lines.Should().Contain(l => l.StartsWith("hash mismatch: transcript.txt (transcript): sha256 ", StringComparison.Ordinal));
        lines[^1].Should().Be("bundle: damaged (2 problems)");
    }

    [Fact]
    public async Task Verify_json_of_an_intact_bundle_is_one_document_with_every_file_ok()
    {
        var bundle = await BundleSamples.WriteAsync(_temp);

        var result = await RunAsync("verify", bundle, "--json");

        result.ExitCode.Should().Be(0, result.ToString());
        result.Stderr.Should().BeEmpty();
        var json = JsonNode.Parse(result.Stdout)!.AsObject();
        json["bundle"]!.GetValue<string>().Should().Be(bundle);
        json["intact"]!.GetValue<bool>().Should().BeTrue();
        json["verdict"]!.GetValue<string>().Should().Be("bundle: intact (5 files, 361.4 KiB)");
        json["files"]!.AsArray().Should().HaveCount(5).And.OnlyContain(f => f!["status"]!.GetValue<string>() == "ok");
        json["problems"]!.AsArray().Should().BeEmpty();
    }

    [Fact]
    public async Task Verify_json_of_a_damaged_bundle_names_each_problem_and_exits_1()
    {
        var bundle = await BundleSamples.WriteAsync(_temp);
        File.Delete(Path.Combine(bundle, "replay.bin"));
        await File.WriteAllTextAsync(Path.Combine(bundle, "stray.txt"), "not listed", Ct);

        var result = await RunAsync("verify", "--json", bundle);

        result.ExitCode.Should().Be(Failure, result.ToString());
        result.Stderr.Should().BeEmpty("a damaged bundle is a verdict, not an error");
        var json = JsonNode.Parse(result.Stdout)!.AsObject();
        json["intact"]!.GetValue<bool>().Should().BeFalse();
        json["verdict"]!.GetValue<string>().Should().Be("bundle: damaged (1 problem)");
        json["problems"]!.AsArray().Select(p => p!.GetValue<string>()).Should().Equal("missing: replay.bin (replay-log)");
        var replayLog = json["files"]!.AsArray().Single(f => f!["path"]!.GetValue<string>() == "replay.bin")!;
        replayLog["status"]!.GetValue<string>().Should().Be("missing");
        replayLog["role"]!.GetValue<string>().Should().Be("replay-log");
        json["unlistedFiles"]!.AsArray().Select(p => p!.GetValue<string>()).Should().Equal("stray.txt");
    }

    [Fact]
    public async Task Verify_finds_a_moved_external_file_through_search_dir()
    {
        var bundle = await BundleSamples.WriteAsync(_temp, externalKernel: true);
        var images = Directory.CreateDirectory(_temp.File("images")).FullName;
        File.Move(_temp.File("run/vmlinuz"), Path.Combine(images, "vmlinuz"));

        var without = await RunAsync("verify", bundle);
        var with = await RunAsync("verify", bundle, "--search-dir", images);

        without.ExitCode.Should().Be(Failure, without.ToString());
        Lines(without.Stdout)[0].Should().StartWith($"external missing: {_temp.File("run")}/vmlinuz (kernel)");
        Lines(without.Stdout)[^1].Should().Be("bundle: damaged (1 problem)");
        with.ExitCode.Should().Be(0, with.ToString());
    }

    [Theory]
    [InlineData("info")]
    [InlineData("verify")]
    public async Task A_missing_path_is_one_error_line(string verb)
    {
        var path = _temp.File("nowhere.qtkreplay");

        var result = await RunAsync(verb, path);

        var message = result.ShouldFailCleanly(Failure, Expected);
        message.Should().Be($"qemutestkit: error: replay bundle '{path}' not found: no such file or directory; pass a <name>.qtkreplay directory, its bundle.json, or a .qtkreplay.zip");
    }

    [Theory]
    [InlineData("info")]
    [InlineData("verify")]
    public async Task A_foreign_bundle_is_one_error_line(string verb)
    {
        var bundle = await BundleSamples.WriteAsync(_temp);
        BundleSamples.EditManifest(bundle, m => m["kind"] = "someone-elses-bundle");

        var result = await RunAsync(verb, bundle);

        var message = result.ShouldFailCleanly(Failure, Expected);
        message.Should().StartWith("qemutestkit: error: ").And.Contain(bundle).And.Contain("foreign").And.Contain("someone-elses-bundle");
    }

    [Theory]
    [InlineData("info")]
    [InlineData("verify")]
    public async Task A_newer_schema_is_one_error_line_asking_for_an_upgrade(string verb)
    {
        var bundle = await BundleSamples.WriteAsync(_temp);
        BundleSamples.EditManifest(bundle, m => m["schemaVersion"] = 7);

        var result = await RunAsync(verb, bundle);

        var message = result.ShouldFailCleanly(Failure, Expected);
        message.Should().Be($"qemutestkit: error: replay bundle '{bundle}' was written by a newer QemuTestKit (schema 7, this reads up to 1): upgrade qemutestkit");
    }

    [Fact]
    public async Task A_truncated_bundle_json_is_one_error_line()
    {
        var bundle = await BundleSamples.WriteAsync(_temp);
        var manifest = Path.Combine(bundle, "bundle.json");
        var bytes = await File.ReadAllBytesAsync(manifest, Ct);
        await File.WriteAllBytesAsync(manifest, bytes[..(bytes.Length / 3)], Ct);

        var result = await RunAsync("verify", bundle);

        var message = result.ShouldFailCleanly(Failure, Expected);
        message.Should().Contain(bundle).And.Contain("truncated");
    }

    [Fact]
    public async Task Garbage_bundle_json_and_an_unfinished_write_are_one_error_line_each()
    {
        var garbage = await BundleSamples.WriteAsync(_temp, name: "garbage");
        await File.WriteAllTextAsync(Path.Combine(garbage, "bundle.json"), "<<not json>>", Ct);
        var complete = await BundleSamples.WriteAsync(_temp, name: "complete");
        var unfinished = _temp.File($".complete.qtkreplay.{Guid.NewGuid():N}.tmp");
        Directory.Move(complete, unfinished);

        var garbageResult = await RunAsync("info", garbage);
        var unfinishedResult = await RunAsync("info", unfinished);

        garbageResult.ShouldFailCleanly(Failure, Expected).Should().Contain("not valid JSON");
        unfinishedResult.ShouldFailCleanly(Failure, Expected).Should().Contain("did not finish");
    }

    [Fact]
    public async Task Bundle_without_a_verb_or_without_a_path_is_a_usage_error()
    {
        var noVerb = await RunAsync();
        var noPath = await RunAsync("verify");

        noVerb.ShouldFailCleanly(Usage, Expected);
        noPath.ShouldFailCleanly(Usage, Expected);
    }
}

/// <summary>Small synthetic bundles for the CLI tests, written with the library's own writer.</summary>
internal static class BundleSamples
{
    public const string QemuSha256 = "3f2a9c1b7e4d6a8f0c5b2e9d1a7f3c6b8e0d4a2f9c7b5e3d1a0f8c6b4e2d0a9f";

    private static readonly DateTimeOffset Started = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Writes a bundle into <paramref name="temp"/>; with <paramref name="externalKernel"/>, its 50 000-byte kernel stays outside.</summary>
    public static async Task<string> WriteAsync(TempDirectory temp, string name = "sample", bool externalKernel = false, bool zip = false)
    {
        var run = Directory.CreateDirectory(temp.File("run")).FullName;
        BundleSource Source(string file, string role, byte[] content)
        {
            var path = Path.Combine(run, file);
            File.WriteAllBytes(path, content);
            return new BundleSource(path, file, role);
        }

        var sources = new List<BundleSource>
        {
            Source("replay.bin", BundleRoles.ReplayLog, Random(20_000, 1)),
            Source("state.qcow2", BundleRoles.StateImage, Random(300_000, 2)),
            Source("transcript.txt", BundleRoles.Transcript, Encoding.UTF8.GetBytes("login: root\r\n# echo 42\r\n42\r\n# ")),
            Source("stderr.log", BundleRoles.Stderr, Encoding.UTF8.GetBytes("qemu: warning: something\n")),
            Source("vmlinuz", BundleRoles.Kernel, Random(50_000, 3)),
        };
        var manifest = new BundleManifest
        {
            CreatedAt = Started.AddSeconds(10),
            Test = new BundleTest("Guest.Tests.LoginTests.Root_can_log_in", "failed", "expected 'root#'\nbut the console showed 'login:'"),
            Qemu = new QemuBuild("7.2.22", "Debian 1:7.2+dfsg-7+deb12u18", "/usr/bin/qemu-system-x86_64", QemuSha256),
            Spec = new MachineSpec { Name = "hello", Architecture = "x86_64", MachineType = "q35", MemoryMiB = 256 },
            ReplayArguments = ["-icount", "shift=5,rr=replay,rrfile={bundle}/replay.bin", "-kernel", "{bundle}/vmlinuz"],
            StartSnapshot = "ready",
            Checkpoints = [new Checkpoint("start", 0, 0, Started), new Checkpoint("after-login", 1_234_567, 12, Started.AddSeconds(2))],
            Transcript = new BundleTranscript("", 0, ""),
            Timings = new BundleTimings(3.5, Started, Started.AddSeconds(3.5)),
        };
        var options = new BundleWriteOptions { MaxCopyBytes = externalKernel ? 10_000 : BundleWriteOptions.DefaultMaxCopyBytes, Zip = zip };
        return await ReplayBundleWriter.WriteAsync(manifest, sources, temp.File(name), options, TestContext.Current.CancellationToken);
    }

    public static void EditManifest(string bundle, Action<JsonObject> edit)
    {
        var path = Path.Combine(bundle, "bundle.json");
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    private static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
