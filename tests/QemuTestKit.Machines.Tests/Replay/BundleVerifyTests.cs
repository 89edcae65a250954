using System.Diagnostics;
using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Machines.Tests.Replay;

/// <summary>Verification: each kind of damage to a bundle's files gives the right per-file verdict and problem line.</summary>
public sealed class BundleVerifyTests : IDisposable
{
    private readonly BundleSandbox _box = new();

    public void Dispose() => _box.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<BundleVerification> VerifyAsync(string directory)
    {
        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);
        return await bundle.VerifyAsync(Ct);
    }

    [Fact]
    public async Task A_modified_transcript_byte_is_a_hash_mismatch_on_the_transcript()
    {
        var directory = await _box.WriteAsync();
        BundleSandbox.FlipByte(Path.Combine(directory, "transcript.txt"), 5);

        var verification = await VerifyAsync(directory);

        verification.IsIntact.Should().BeFalse();
        var bad = verification.Files.Should().ContainSingle(f => !f.IsOk).Subject;
        bad.File.Role.Should().Be(BundleRoles.Transcript);
        bad.Status.Should().Be(BundleFileStatus.HashMismatch);
        bad.ActualSha256.Should().NotBe(bad.File.Sha256);
        verification.Problems.Should().ContainSingle()
            .Which.Should().StartWith("hash mismatch: transcript.txt (transcript): sha256 ").And.Contain(bad.File.Sha256[..16]);
    }

    [Fact]
    public async Task A_missing_replay_log_is_missing()
    {
        var directory = await _box.WriteAsync();
        File.Delete(Path.Combine(directory, "replay.bin"));

        var verification = await VerifyAsync(directory);

        verification.IsIntact.Should().BeFalse();
        verification.Files.Single(f => f.File.Path == "replay.bin").Status.Should().Be(BundleFileStatus.Missing);
        verification.Problems.Should().Equal("missing: replay.bin (replay-log)");
    }

    [Fact]
    public async Task An_edited_state_image_of_the_same_size_is_a_hash_mismatch()
    {
        var directory = await _box.WriteAsync();
        BundleSandbox.FlipByte(Path.Combine(directory, "state.qcow2"), 150_000);

        var verification = await VerifyAsync(directory);

        verification.Files.Single(f => f.File.Role == BundleRoles.StateImage).Status.Should().Be(BundleFileStatus.HashMismatch);
        verification.Problems.Should().ContainSingle().Which.Should().StartWith("hash mismatch: state.qcow2 (state-image)");
    }

    [Fact]
    public async Task A_state_image_edited_after_a_verification_is_caught_by_the_next_one_even_with_its_old_mtime()
    {
        // Verification remembers each file's hash by its identity (FileHashCache): an edit must still be seen.
        var directory = await _box.WriteAsync();
        var state = Path.Combine(directory, "state.qcow2");
        (await VerifyAsync(directory)).IsIntact.Should().BeTrue();
        var modified = File.GetLastWriteTimeUtc(state);

        BundleSandbox.FlipByte(state, 150_000);
        File.SetLastWriteTimeUtc(state, modified);

        var again = await VerifyAsync(directory);
        again.Files.Single(f => f.File.Role == BundleRoles.StateImage).Status.Should().Be(BundleFileStatus.HashMismatch);
    }

    [Fact]
    public async Task A_state_image_of_another_size_is_a_size_mismatch()
    {
        var directory = await _box.WriteAsync();
        await using (var stream = new FileStream(Path.Combine(directory, "state.qcow2"), FileMode.Append))
        {
            stream.WriteByte(0);
        }

        var verification = await VerifyAsync(directory);

        var bad = verification.Files.Single(f => f.File.Role == BundleRoles.StateImage);
        bad.Status.Should().Be(BundleFileStatus.SizeMismatch);
        bad.ActualSize.Should().Be(300_001);
        verification.Problems.Should().Equal("size mismatch: state.qcow2 (state-image): 300001 bytes, expected 300000");
    }

    [Fact]
    public async Task Several_problems_are_all_reported()
    {
        var directory = await _box.WriteAsync();
        File.Delete(Path.Combine(directory, "replay.bin"));
        BundleSandbox.FlipByte(Path.Combine(directory, "images", "vmlinuz"), 0);
        BundleSandbox.FlipByte(Path.Combine(directory, "transcript.txt"), 0);

        var verification = await VerifyAsync(directory);

        verification.Problems.Should().HaveCount(3);
        verification.Files.Count(f => f.IsOk).Should().Be(3);
    }

    [Fact]
    public async Task A_file_replaced_by_a_symbolic_link_is_unsafe_even_with_the_right_content()
    {
        var directory = await _box.WriteAsync();
        var log = Path.Combine(directory, "replay.bin");
        var elsewhere = _box.Output("replay-elsewhere.bin");
        File.Move(log, elsewhere);
        File.CreateSymbolicLink(log, elsewhere);

        var verification = await VerifyAsync(directory);

        verification.Files.Single(f => f.File.Path == "replay.bin").Status.Should().Be(BundleFileStatus.Unsafe);
        verification.IsIntact.Should().BeFalse();
    }

    [Fact]
    public async Task An_unlisted_file_is_noted_but_is_not_a_problem()
    {
        var directory = await _box.WriteAsync();
        await File.WriteAllTextAsync(Path.Combine(directory, "images", "notes.txt"), "added later", Ct);

        var verification = await VerifyAsync(directory);

        verification.IsIntact.Should().BeTrue();
        verification.UnlistedFiles.Should().Equal("images/notes.txt");
    }

    [Fact]
    public async Task A_transcript_entry_that_disagrees_with_the_files_list_is_a_manifest_problem()
    {
        var directory = await _box.WriteAsync();
        BundleSandbox.EditManifest(directory, m => m["transcript"]!["sha256"] = new string('0', 64));

        var verification = await VerifyAsync(directory);

        verification.IsIntact.Should().BeFalse();
        verification.Files.Should().OnlyContain(f => f.IsOk);
        verification.ManifestProblems.Should().ContainSingle().Which.Should().StartWith("transcript: ");
    }

    [Fact]
    public async Task A_transcript_missing_from_the_files_list_is_a_manifest_problem()
    {
        var directory = await _box.WriteAsync();
        BundleSandbox.EditManifest(directory, m =>
        {
            var files = m["files"]!.AsArray();
            files.Remove(files.Single(f => f!["path"]!.GetValue<string>() == "transcript.txt"));
        });

        var verification = await VerifyAsync(directory);

        verification.ManifestProblems.Should().ContainSingle().Which.Should().Contain("does not list it");
        verification.UnlistedFiles.Should().Equal("transcript.txt");
        verification.IsIntact.Should().BeFalse();
    }

    [Fact]
    public async Task Verification_streams_a_large_state_image_quickly()
    {
        var sources = _box.Sources();
        sources.Add(_box.Make("overlay.qcow2", BundleRoles.DiskOverlay, BundleSandbox.Random(64 << 20, 11)));
        var directory = await _box.WriteAsync(sources: sources);
        var watch = Stopwatch.StartNew();

        var verification = await VerifyAsync(directory);

        watch.Stop();
        verification.IsIntact.Should().BeTrue();
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5), "hashing 64 MiB takes well under a second here, even next to other tests");
    }
}
