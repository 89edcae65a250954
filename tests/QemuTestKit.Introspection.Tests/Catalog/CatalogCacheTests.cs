using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.Catalog;

/// <summary>Counts started QEMU processes, so nothing else may start one meanwhile.</summary>
[CollectionDefinition(nameof(ProcessCounting), DisableParallelization = true)]
public sealed class ProcessCounting;

[Collection(nameof(ProcessCounting))]
public sealed class CatalogCacheTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    /// <summary>
    /// A private stand-in for the binary (a script that execs the real one), so its ctime can change without touching
    /// the system's file. The cache keys on the file it is given, which is this script.
    /// </summary>
    private string CopyOfQemu()
    {
        var wrapper = _temp.File("qemu-system-x86_64");
        if (!File.Exists(wrapper))
        {
            File.WriteAllText(wrapper, $"#!/bin/sh\nexec '{TestQemu.Binary}' \"$@\"\n");
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return wrapper;
    }

    [Fact]
    public async Task A_second_lookup_comes_from_the_cache_and_starts_no_qemu()
    {
        var cache = new CatalogCache(_temp.File("cache"));
        var binary = CopyOfQemu();

        var first = await cache.GetAsync(binary, TestContext.Current.CancellationToken);
        var started = QemuProcess.StartedCount;
        var second = await cache.GetAsync(binary, TestContext.Current.CancellationToken);

        first.Source.Should().Be(CatalogSource.Qemu);
        second.Source.Should().Be(CatalogSource.Cache);
        QemuProcess.StartedCount.Should().Be(started, "a valid cached catalog must not start QEMU");
        second.Machines.Should().BeEquivalentTo(first.Machines);
        second.DeviceTypes.Count.Should().Be(first.DeviceTypes.Count);
        second.QmpSchemaHash.Should().Be(first.QmpSchemaHash);
    }

    [Fact]
    public async Task Changing_the_binarys_ctime_invalidates_the_cache()
    {
        var cache = new CatalogCache(_temp.File("cache"));
        var binary = CopyOfQemu();
        await cache.GetAsync(binary, TestContext.Current.CancellationToken);
        var mtime = File.GetLastWriteTimeUtc(binary);

        await Task.Delay(20, TestContext.Current.CancellationToken);
        // chmod to the same mode changes only the ctime: the case a package manager's replace-in-place can produce.
        File.SetUnixFileMode(binary, File.GetUnixFileMode(binary));
        File.GetLastWriteTimeUtc(binary).Should().Be(mtime);

        var started = QemuProcess.StartedCount;
        var again = await cache.GetAsync(binary, TestContext.Current.CancellationToken);

        again.Source.Should().Be(CatalogSource.Qemu);
        QemuProcess.StartedCount.Should().BeGreaterThan(started);
        (await cache.GetAsync(binary, TestContext.Current.CancellationToken)).Source.Should().Be(CatalogSource.Cache);
    }

    [Fact]
    public async Task A_corrupt_cache_file_is_discarded_with_a_warning_and_rebuilt()
    {
        var warnings = new List<string>();
        var cache = new CatalogCache(_temp.File("cache"), warn: warnings.Add);
        var binary = CopyOfQemu();
        await cache.GetAsync(binary, TestContext.Current.CancellationToken);
        var file = cache.FileFor(Path.GetFullPath(binary));
        await File.WriteAllTextAsync(file, "{\"schemaVersion\": 1, \"machines\": [", TestContext.Current.CancellationToken);

        var rebuilt = await cache.GetAsync(binary, TestContext.Current.CancellationToken);

        rebuilt.Source.Should().Be(CatalogSource.Qemu);
        warnings.Should().ContainSingle().Which.Should().Contain(file).And.Contain("rebuilt");
        (await cache.GetAsync(binary, TestContext.Current.CancellationToken)).Source.Should().Be(CatalogSource.Cache);
    }

    [Fact]
    public async Task Concurrent_lookups_of_one_binary_walk_it_once()
    {
        var dir = _temp.File("cache");
        var binary = CopyOfQemu();
        var started = QemuProcess.StartedCount;

        var catalogs = await Task.WhenAll(Enumerable.Range(0, 4)
            .Select(_ => Task.Run(() => new CatalogCache(dir).GetAsync(binary, TestContext.Current.CancellationToken))));

        var walked = catalogs.Should().ContainSingle(c => c.Source == CatalogSource.Qemu).Subject;
        // A walk restarts QEMU once per device type that kills it, and which types do depends on the packages
        // installed (Debian's 7.2 dies on the GL display types without their module): count those restarts in.
        var restarts = walked.UnavailableTypes.Count(u => u.Reason.StartsWith("the emulator", StringComparison.Ordinal));
        (QemuProcess.StartedCount - started).Should().Be(1 + restarts, "the other lookups waited for the lock and read the result");
        Directory.GetFiles(dir, "*.tmp").Should().BeEmpty();
    }

    public void Dispose() => _temp.Dispose();
}
