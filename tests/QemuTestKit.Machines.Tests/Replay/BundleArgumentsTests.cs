using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Machines.Tests.Replay;

/// <summary>The <c>{bundle}</c> and <c>{run}</c> placeholders of the replay argument array.</summary>
public sealed class BundleArgumentsTests : IDisposable
{
    private readonly BundleSandbox _box = new();

    public void Dispose() => _box.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Placeholders_become_the_bundle_files_and_the_run_directory()
    {
        var directory = await _box.WriteAsync();
        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);

        var arguments = bundle.ExpandReplayArguments("/run/qtk/r1");

        arguments.Should().Equal(
            "-icount", $"shift=5,rr=replay,rrfile={directory}/replay.bin",
            "-drive", $"file={directory}/state.qcow2,if=none,id=rr",
            "-kernel", $"{directory}/images/vmlinuz",
            "-qmp", "unix:/run/qtk/r1/qmp.sock,server=on,wait=off",
            "-loadvm", "ready");
    }

    [Fact]
    public async Task An_external_file_is_replaced_by_where_it_is_found()
    {
        var sources = _box.Sources(kernelBytes: 50_000);
        var kernel = sources.Single(s => s.Role == BundleRoles.Kernel);
        var directory = await _box.WriteAsync(options: new BundleWriteOptions { MaxCopyBytes = 10_000 }, sources: sources);
        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);

        bundle.ExpandReplayArguments("/run/x").Should().Contain(kernel.SourcePath);

        File.Delete(kernel.SourcePath);
        var act = () => bundle.ExpandReplayArguments("/run/x");
        var error = act.Should().Throw<ReplayBundleException>().Which;
        error.Error.Should().Be(ReplayBundleError.ExternalMissing);
        error.Message.Should().Contain(kernel.SourcePath).And.Contain("kernel").And.Contain(directory);
    }

    [Fact]
    public async Task A_comma_in_a_substituted_directory_is_doubled_inside_an_option_but_not_in_a_plain_path()
    {
        var directory = await ReplayBundleWriter.WriteAsync(BundleSandbox.Manifest(), _box.Sources(), _box.Output("with,comma"), null, Ct);
        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);

        var arguments = bundle.ExpandReplayArguments("/run/a,b");

        var escaped = directory.Replace(",", ",,", StringComparison.Ordinal);
        arguments[3].Should().Be($"file={escaped}/state.qcow2,if=none,id=rr");
        arguments[5].Should().Be($"{directory}/images/vmlinuz");
        arguments[7].Should().Be("unix:/run/a,,b/qmp.sock,server=on,wait=off");
    }

    [Fact]
    public async Task A_hostile_bundle_reference_in_the_arguments_is_refused()
    {
        var directory = await _box.WriteAsync();
        BundleSandbox.EditManifest(directory, m => m["replayArguments"]![1] = "shift=5,rr=replay,rrfile={bundle}/../../outside.bin");
        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);

        var act = () => bundle.ExpandReplayArguments("/run/x");

        act.Should().Throw<ReplayBundleException>().Which.Error.Should().Be(ReplayBundleError.UnsafePath);
    }
}
