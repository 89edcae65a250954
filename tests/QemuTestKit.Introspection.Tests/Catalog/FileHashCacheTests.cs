using System.Security.Cryptography;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.Catalog;

/// <summary>Counts the files FileHashCache reads (a process-wide number), so nothing else may hash meanwhile.</summary>
[CollectionDefinition(nameof(HashCounting), DisableParallelization = true)]
public sealed class HashCounting;

[Collection(nameof(HashCounting))]
public sealed class FileHashCacheTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_file_is_read_once_per_version_and_its_hash_remembered_on_disk()
    {
        var ct = TestContext.Current.CancellationToken;
        var file = _temp.File("state.qcow2");
        await File.WriteAllBytesAsync(file, RandomNumberGenerator.GetBytes((int)FileHashCache.PersistFromBytes + 4096), ct);
        var cache = _temp.File("cache");
        var before = FileHashCache.FilesRead;

        var first = await FileHashCache.Sha256Async(file, cache, ct);
        var second = await FileHashCache.Sha256Async(file, cache, ct);

        first.Should().Be(Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(file, ct))).ToLowerInvariant());
        second.Should().Be(first);
        (FileHashCache.FilesRead - before).Should().Be(1, "the second lookup finds the first one's hash");
        Directory.GetFiles(cache, "state.qcow2-*.sha256.json").Should().ContainSingle("another process finds it there");
    }

    [Fact]
    public async Task A_small_file_is_remembered_in_memory_only()
    {
        var ct = TestContext.Current.CancellationToken;
        var file = _temp.File("console.log");
        await File.WriteAllBytesAsync(file, RandomNumberGenerator.GetBytes(4096), ct);
        var cache = _temp.File("cache");
        var before = FileHashCache.FilesRead;

        await FileHashCache.Sha256Async(file, cache, ct);
        await FileHashCache.Sha256Async(file, cache, ct);

        (FileHashCache.FilesRead - before).Should().Be(1);
        Directory.Exists(cache).Should().BeFalse("a cache entry per small bundle file would pile up with every bundle");
    }

    [Fact]
    public async Task Entries_of_files_that_are_gone_are_removed_when_the_next_entry_is_written()
    {
        var ct = TestContext.Current.CancellationToken;
        var cache = Directory.CreateDirectory(_temp.File("cache")).FullName;
        var gone = _temp.File("deleted-bundle-state.qcow2");
        await File.WriteAllBytesAsync(gone, RandomNumberGenerator.GetBytes((int)FileHashCache.PersistFromBytes), ct);
        await FileHashCache.Sha256Async(gone, cache, ct);
        var goneEntry = Directory.GetFiles(cache, "deleted-bundle-state.qcow2-*.sha256.json").Should().ContainSingle().Subject;
        File.Delete(gone);
        FileHashCache.ForgetPrunedDirectories(); // as a later process starts afresh

        var kept = _temp.File("state.qcow2");
        await File.WriteAllBytesAsync(kept, RandomNumberGenerator.GetBytes((int)FileHashCache.PersistFromBytes), ct);
        await FileHashCache.Sha256Async(kept, cache, ct);

        File.Exists(goneEntry).Should().BeFalse("its file no longer exists");
        Directory.GetFiles(cache, "state.qcow2-*.sha256.json").Should().ContainSingle();
    }

    [Fact]
    public async Task A_file_edited_in_place_is_hashed_again_even_with_its_old_size_and_mtime()
    {
        var ct = TestContext.Current.CancellationToken;
        var file = _temp.File("replay.bin");
        await File.WriteAllBytesAsync(file, new byte[4096], ct);
        var cache = _temp.File("cache");
        var old = await FileHashCache.Sha256Async(file, cache, ct);
        var modified = File.GetLastWriteTimeUtc(file);

        var changed = new byte[4096];
        changed[100] = 1;
        await File.WriteAllBytesAsync(file, changed, ct);
        File.SetLastWriteTimeUtc(file, modified); // what a careless copy tool does; the ctime still moves
        var before = FileHashCache.FilesRead;

        var now = await FileHashCache.Sha256Async(file, cache, ct);

        now.Should().NotBe(old);
        (FileHashCache.FilesRead - before).Should().Be(1);
    }
}
