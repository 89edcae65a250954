using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Machines.Tests.Replay;

/// <summary>Base images too large to copy are referenced by original path, size and sha256.</summary>
public sealed class BundleExternalFileTests : IDisposable
{
    private readonly BundleSandbox _box = new();

    public void Dispose() => _box.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly BundleWriteOptions SmallLimit = new() { MaxCopyBytes = 10_000 };

    [Fact]
    public async Task A_kernel_over_the_limit_is_referenced_not_copied()
    {
        var sources = _box.Sources(kernelBytes: 50_000);
        var kernel = sources.Single(s => s.Role == BundleRoles.Kernel);

        var directory = await _box.WriteAsync(options: SmallLimit, sources: sources);

        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);
        File.Exists(Path.Combine(directory, "images", "vmlinuz")).Should().BeFalse();
        bundle.Manifest.Files.Should().NotContain(f => f.Role == BundleRoles.Kernel);
        var external = bundle.Manifest.ExternalFiles.Should().ContainSingle().Subject;
        external.Should().Be(new ExternalFile(kernel.SourcePath, 50_000, BundleSandbox.Sha256(_box.Contents["images/vmlinuz"]), BundleRoles.Kernel)
        {
            BundlePath = "images/vmlinuz",
        });
        bundle.Resolve(external).Should().Be(kernel.SourcePath);
        var verification = await bundle.VerifyAsync(Ct);
        verification.IsIntact.Should().BeTrue(string.Join("\n", verification.Problems));
        verification.ExternalFiles.Should().ContainSingle().Which.FoundAt.Should().Be(kernel.SourcePath);
    }

    [Fact]
    public async Task Only_base_image_roles_become_external()
    {
        var sources = _box.Sources(kernelBytes: 5_000);
        sources.Add(_box.Make("disk-base.img", BundleRoles.DiskBase, BundleSandbox.Random(20_000, 4)));
        sources.Add(_box.Make("firmware.bin", BundleRoles.Firmware, BundleSandbox.Random(20_000, 5)));
        sources.Add(_box.Make("initrd.img", BundleRoles.Initrd, BundleSandbox.Random(20_000, 6)));

        var directory = await _box.WriteAsync(options: SmallLimit, sources: sources);

        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);
        bundle.Manifest.ExternalFiles.Select(e => e.Role).Should().BeEquivalentTo([BundleRoles.DiskBase, BundleRoles.Firmware, BundleRoles.Initrd]);
        bundle.Manifest.Files.Select(f => f.Role).Should().Contain([BundleRoles.Kernel, BundleRoles.StateImage],
            "a kernel under the limit is copied, and a state image is always copied whatever its size (300 000 bytes here)");
    }

    [Fact]
    public async Task External_files_the_caller_already_listed_are_kept()
    {
        var given = new ExternalFile("/srv/images/base.qcow2", 1 << 30, new string('d', 64), BundleRoles.DiskBase);
        var directory = await ReplayBundleWriter.WriteAsync(
            BundleSandbox.Manifest() with { ExternalFiles = [given] }, _box.Sources(kernelBytes: 50_000), _box.Output("sample"), SmallLimit, Ct);

        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);

        bundle.Manifest.ExternalFiles.Should().HaveCount(2).And.Contain(given);
    }

    [Fact]
    public async Task A_missing_external_file_is_reported_and_a_search_directory_finds_it()
    {
        var sources = _box.Sources(kernelBytes: 50_000);
        var kernel = sources.Single(s => s.Role == BundleRoles.Kernel);
        var directory = await _box.WriteAsync(options: SmallLimit, sources: sources);
        var elsewhere = Directory.CreateDirectory(Path.Combine(_box.Root, "moved-images")).FullName;
        File.Move(kernel.SourcePath, Path.Combine(elsewhere, Path.GetFileName(kernel.SourcePath)));

        using (var bundle = await ReplayBundle.OpenAsync(directory, Ct))
        {
            var verification = await bundle.VerifyAsync(Ct);

            verification.IsIntact.Should().BeFalse();
            var check = verification.ExternalFiles.Should().ContainSingle().Subject;
            check.Status.Should().Be(ExternalFileStatus.Missing);
            verification.Problems.Should().ContainSingle().Which.Should().StartWith($"external missing: {kernel.SourcePath} (kernel)");
            bundle.Resolve(bundle.Manifest.ExternalFiles[0]).Should().BeNull();
            bundle.Resolve(bundle.Manifest.ExternalFiles[0], [elsewhere]).Should().Be(Path.Combine(elsewhere, Path.GetFileName(kernel.SourcePath)));
        }

        using var withSearch = await ReplayBundle.OpenAsync(directory, new BundleOpenOptions { ExternalSearchDirectories = [elsewhere] }, Ct);
        (await withSearch.VerifyAsync(Ct)).IsIntact.Should().BeTrue();
    }

    [Fact]
    public async Task A_changed_external_file_is_a_mismatch()
    {
        var sources = _box.Sources(kernelBytes: 50_000);
        var kernel = sources.Single(s => s.Role == BundleRoles.Kernel);
        var directory = await _box.WriteAsync(options: SmallLimit, sources: sources);
        BundleSandbox.FlipByte(kernel.SourcePath, 100);

        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);
        var verification = await bundle.VerifyAsync(Ct);

        verification.ExternalFiles.Single().Status.Should().Be(ExternalFileStatus.HashMismatch);
        verification.Problems.Should().ContainSingle().Which.Should().StartWith($"external mismatch: {kernel.SourcePath} (kernel) at {kernel.SourcePath}: sha256");
    }

    [Fact]
    public async Task A_search_directory_copy_with_other_content_does_not_hide_the_good_original()
    {
        var sources = _box.Sources(kernelBytes: 50_000);
        var kernel = sources.Single(s => s.Role == BundleRoles.Kernel);
        var directory = await _box.WriteAsync(options: SmallLimit, sources: sources);
        var elsewhere = Directory.CreateDirectory(Path.Combine(_box.Root, "other-images")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(elsewhere, Path.GetFileName(kernel.SourcePath)), BundleSandbox.Random(50_000, 99), Ct);

        using var bundle = await ReplayBundle.OpenAsync(directory, new BundleOpenOptions { ExternalSearchDirectories = [elsewhere] }, Ct);
        var verification = await bundle.VerifyAsync(Ct);

        verification.IsIntact.Should().BeTrue();
        verification.ExternalFiles.Single().FoundAt.Should().Be(kernel.SourcePath);
    }
}
