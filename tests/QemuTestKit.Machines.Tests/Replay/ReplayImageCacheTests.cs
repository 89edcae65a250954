using System.Diagnostics;
using System.Security.Cryptography;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Tests.Replay;

/// <summary>
/// The working copies replays reuse instead of copying a bundle's images each time: real qcow2 images with internal
/// snapshots made by qemu-img; QEMU's own reuse of them is proven by every replay test run after the first.
/// </summary>
public sealed class ReplayImageCacheTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-replay-images-").FullName;

    private string Cache => Path.Combine(_root, "cache");

    [Fact]
    public async Task A_replay_gets_a_link_to_a_working_copy_that_later_replays_reuse_without_copying_again()
    {
        var ct = TestContext.Current.CancellationToken;
        var source = await ImageWithSnapshotsAsync("state.qcow2", ct);
        var before = Sha256(source);

        using (var run = RunDirectory.Create("cache", _root))
        {
            (await ReplayImageCache.ProvideAsync(source, run.File("state.qcow2"), run, Cache, cancellationToken: ct)).Should().BeTrue();
            var link = new FileInfo(run.File("state.qcow2")).LinkTarget;
            link.Should().NotBeNull().And.StartWith(Path.Combine(Cache, ReplayImageCache.DirectoryName));
            Qcow2SnapshotTable.Read(run.File("state.qcow2")).Should().Equal(Qcow2SnapshotTable.Read(source));
        }

        var entry = Directory.GetFiles(Path.Combine(Cache, ReplayImageCache.DirectoryName), "*.qcow2").Should().ContainSingle().Subject;
        var madeAt = File.GetLastWriteTimeUtc(entry);
        using (var again = RunDirectory.Create("cache", _root))
        {
            (await ReplayImageCache.ProvideAsync(source, again.File("state.qcow2"), again, Cache, cancellationToken: ct)).Should().BeTrue();
        }

        File.GetLastWriteTimeUtc(entry).Should().Be(madeAt, "an unchanged working copy is used as it is");
        Sha256(source).Should().Be(before, "the bundle's image is never written");
    }

    [Fact]
    public async Task A_working_copy_in_use_gives_a_second_replay_a_private_copy_until_the_first_one_is_done()
    {
        var ct = TestContext.Current.CancellationToken;
        var source = await ImageWithSnapshotsAsync("state.qcow2", ct);
        using var first = RunDirectory.Create("cache", _root);
        (await ReplayImageCache.ProvideAsync(source, first.File("state.qcow2"), first, Cache, cancellationToken: ct)).Should().BeTrue();

        using (var second = RunDirectory.Create("cache", _root))
        {
            (await ReplayImageCache.ProvideAsync(source, second.File("state.qcow2"), second, Cache, cancellationToken: ct)).Should().BeFalse();
            new FileInfo(second.File("state.qcow2")).LinkTarget.Should().BeNull("it is a private copy");
            Sha256(second.File("state.qcow2")).Should().Be(Sha256(source));
        }

        first.ReleaseHeld();
        using var third = RunDirectory.Create("cache", _root);
        (await ReplayImageCache.ProvideAsync(source, third.File("state.qcow2"), third, Cache, cancellationToken: ct)).Should().BeTrue();
    }

    [Fact]
    public async Task A_working_copy_whose_snapshots_changed_or_that_QEMU_marked_corrupt_is_made_again()
    {
        var ct = TestContext.Current.CancellationToken;
        var source = await ImageWithSnapshotsAsync("state.qcow2", ct);
        using (var run = RunDirectory.Create("cache", _root))
        {
            await ReplayImageCache.ProvideAsync(source, run.File("state.qcow2"), run, Cache, cancellationToken: ct);
        }

        var entry = Directory.GetFiles(Path.Combine(Cache, ReplayImageCache.DirectoryName), "*.qcow2").Single();
        // A snapshot saved during a replay (savevm over QMP) replaces one of the recorded ones.
        await QemuImgAsync(ct, "snapshot", "-d", "c1", entry);
        await QemuImgAsync(ct, "snapshot", "-c", "c1", entry);
        ReplayImageCache.Matches(entry, source).Should().BeFalse();
        using (var run = RunDirectory.Create("cache", _root))
        {
            (await ReplayImageCache.ProvideAsync(source, run.File("state.qcow2"), run, Cache, cancellationToken: ct)).Should().BeTrue();
        }

        Qcow2SnapshotTable.Read(entry).Should().Equal(Qcow2SnapshotTable.Read(source));

        // The corrupt bit (incompatible feature bit 1, byte 79 of a version 3 header).
        using (var file = new FileStream(entry, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = 79;
            file.WriteByte(0b10);
        }

        Qcow2Header.IsClean(entry).Should().BeFalse();
        ReplayImageCache.Matches(entry, source).Should().BeFalse();
        using (var run = RunDirectory.Create("cache", _root))
        {
            await ReplayImageCache.ProvideAsync(source, run.File("state.qcow2"), run, Cache, cancellationToken: ct);
        }

        Qcow2Header.IsClean(entry).Should().BeTrue();
        Sha256(entry).Should().Be(Sha256(source));
    }

    [Fact]
    public async Task The_least_recently_used_copies_nobody_holds_go_when_the_cache_is_over_its_limit_and_a_limit_of_zero_copies_privately()
    {
        var ct = TestContext.Current.CancellationToken;
        var old = await ImageWithSnapshotsAsync("old.qcow2", ct, fill: 0x11);
        var held = await ImageWithSnapshotsAsync("held.qcow2", ct, fill: 0x22);
        var fresh = await ImageWithSnapshotsAsync("fresh.qcow2", ct, fill: 0x33);
        using (var run = RunDirectory.Create("cache", _root))
        {
            await ReplayImageCache.ProvideAsync(old, run.File("state.qcow2"), run, Cache, cancellationToken: ct);
        }

        using var holding = RunDirectory.Create("cache", _root);
        await ReplayImageCache.ProvideAsync(held, holding.File("state.qcow2"), holding, Cache, cancellationToken: ct);
        using (var run = RunDirectory.Create("cache", _root))
        {
            // Room for one copy: the new one stays, the held one cannot go, the old one goes.
            await ReplayImageCache.ProvideAsync(fresh, run.File("state.qcow2"), run, Cache, limitBytes: new FileInfo(fresh).Length + 1, cancellationToken: ct);
        }

        var entries = Directory.GetFiles(Path.Combine(Cache, ReplayImageCache.DirectoryName), "*.qcow2").Select(Sha256File).ToArray();
        entries.Should().BeEquivalentTo([Sha256(held), Sha256(fresh)]);

        using var off = RunDirectory.Create("cache", _root);
        (await ReplayImageCache.ProvideAsync(old, off.File("state.qcow2"), off, Cache, limitBytes: 0, cancellationToken: ct)).Should().BeFalse();
        new FileInfo(off.File("state.qcow2")).LinkTarget.Should().BeNull();
    }

    /// <summary>
    /// Test runs and replays in other processes share the cache and evict from it: a working copy another process deletes
    /// between this eviction's listing and its size is left out (it stopped a benchmark with FileNotFoundException).
    /// </summary>
    [Fact]
    public void A_working_copy_another_process_deletes_during_an_eviction_is_left_out()
    {
        var directory = Directory.CreateDirectory(Path.Combine(_root, "shared-cache")).FullName;
        foreach (var name in new[] { "a.qcow2", "b.qcow2", "c.image", "d.qcow2.lock" })
        {
            File.WriteAllBytes(Path.Combine(directory, name), new byte[name.Length]);
        }

        // Listed, not yet looked at (a FileInfo reads the file's status on first use, as a listing's may).
        var listed = Directory.GetFiles(directory).Select(f => new FileInfo(f)).ToList();
        File.Delete(Path.Combine(directory, "a.qcow2"));

        var entries = ReplayImageCache.Entries(listed, keep: Path.Combine(directory, "c.image"));

        entries.Select(e => (e.File.Name, e.Length)).Should().BeEquivalentTo([("b.qcow2", 7L)]);
    }

    [Fact]
    public async Task A_packed_state_image_is_restored_once_and_later_uses_leave_the_restored_image_as_it_is()
    {
        var ct = TestContext.Current.CancellationToken;
        var (source, pack) = await PackedImageAsync("state.qcow2", ct);

        var image = await ReplayImageCache.UnpackedAsync(pack, Cache, cancellationToken: ct);
        Sha256(image).Should().Be(Sha256(source));
        var restoredAt = File.GetLastWriteTimeUtc(image);
        await Task.Delay(20, ct);
        (await ReplayImageCache.UnpackedAsync(pack, Cache, cancellationToken: ct)).Should().Be(image);
        // Its mtime is part of the identity FileHashCache knows it by: touching it would cost a full read per replay.
        File.GetLastWriteTimeUtc(image).Should().Be(restoredAt, "a use is stamped beside the image, not on it");

        using var run = RunDirectory.Create("cache", _root);
        (await ReplayImageCache.ProvideAsync(image, run.File("state.qcow2"), run, Cache, cancellationToken: ct)).Should().BeTrue();
        File.GetLastWriteTimeUtc(image).Should().Be(restoredAt);
    }

    [Fact]
    public async Task A_restored_image_a_run_holds_outlives_an_eviction_until_the_run_ends()
    {
        // A disk base restored for a replay is read by QEMU for the whole replay, straight from the cache.
        var ct = TestContext.Current.CancellationToken;
        var (_, pack) = await PackedImageAsync("base.qcow2", ct);
        var other = await ImageWithSnapshotsAsync("other.qcow2", ct, fill: 0x33);
        using var replay = RunDirectory.Create("cache", _root);
        var restored = await ReplayImageCache.UnpackedAsync(pack, Cache, replay, ct);

        async Task EvictByAnotherReplayAsync()
        {
            using var run = RunDirectory.Create("cache", _root);
            // A limit the new working copy alone fills: everything else not held goes.
            await ReplayImageCache.ProvideAsync(other, run.File("state.qcow2"), run, Cache, limitBytes: new FileInfo(other).Length + 1, cancellationToken: ct);
            File.Delete(Directory.GetFiles(Path.Combine(Cache, ReplayImageCache.DirectoryName), "*.qcow2").Single());
        }

        await EvictByAnotherReplayAsync();
        File.Exists(restored).Should().BeTrue("the replay that restored it still holds it");

        replay.ReleaseHeld();
        await EvictByAnotherReplayAsync();
        File.Exists(restored).Should().BeFalse("once its replay is over it is an ordinary cache entry (this proves the eviction reaches it)");
    }

    /// <summary><see cref="ImageWithSnapshotsAsync"/> and its pack (<see cref="StatePack"/>) beside it.</summary>
    private async Task<(string Image, string Pack)> PackedImageAsync(string name, CancellationToken ct)
    {
        var image = await ImageWithSnapshotsAsync(name, ct);
        var pack = image + ".pack";
        await StatePack.PackAsync(image, pack, ct);
        return (image, pack);
    }

    /// <summary>A qcow2 image with data and two internal snapshots, as a bundle's state image has.</summary>
    private async Task<string> ImageWithSnapshotsAsync(string name, CancellationToken ct, int fill = 0x5a)
    {
        var image = Path.Combine(_root, name);
        await QemuImgAsync(ct, "create", "-q", "-f", "qcow2", image, "16M");
        await RunAsync("qemu-io", ["-c", $"write -P {fill} 0 2M", image], ct);
        await QemuImgAsync(ct, "snapshot", "-c", "ready", image);
        await RunAsync("qemu-io", ["-c", $"write -P {fill + 1} 1M 2M", image], ct);
        await QemuImgAsync(ct, "snapshot", "-c", "c1", image);
        return image;
    }

    private static Task QemuImgAsync(CancellationToken ct, params string[] arguments) => RunAsync("qemu-img", arguments, ct);

    private static async Task RunAsync(string program, string[] arguments, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync(ct);
        _ = process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        process.ExitCode.Should().Be(0, $"{program} {string.Join(' ', arguments)}: {await stderr}");
    }

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>The content hash of a cache entry, named by the hash of what it was copied from.</summary>
    private static string Sha256File(string entry) => Path.GetFileNameWithoutExtension(entry).ToUpperInvariant();

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
