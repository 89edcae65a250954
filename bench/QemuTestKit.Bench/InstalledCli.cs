using System.Security;

namespace QemuTestKit.Bench;

/// <summary>
/// The <c>qemutestkit</c> a user runs: this checkout's CLI packed (ReadyToRun, one package per RID) and installed with
/// <c>dotnet tool install</c> into a directory of the benchmark. The build output would measure a tool that compiles
/// itself as it goes, which no installed tool does.
/// </summary>
internal static class InstalledCli
{
    private const string Project = "src/QemuTestKit.Cli";
    private const string PackageId = "QemuTestKit.Cli";

    /// <summary>Packs and installs the CLI under <paramref name="root"/>; returns the path of the installed command.</summary>
    public static async Task<string> InstallAsync(string root, Action<string> say, CancellationToken ct)
    {
        var feed = Directory.CreateDirectory(Path.Combine(root, "cli-feed")).FullName;
        var tool = Path.Combine(root, "cli-tool");
        say($"packing {Project} and installing it as a dotnet tool (what users run)");
        await BenchProcess.RunAsync("dotnet", ["pack", Project, "-c", "Release", "-o", feed, "-nologo", "-v:q", "-tl:off"], ct).ConfigureAwait(false);
        var pointer = Directory.GetFiles(feed, PackageId + ".*.nupkg").Select(Path.GetFileNameWithoutExtension)
            .Single(name => char.IsDigit(name![PackageId.Length + 1]))!;
        var version = pointer[(PackageId.Length + 1)..];

        // A config of its own: the feed only, so no package source mapping of the checkout's applies.
        var config = Path.Combine(root, "cli-nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="cli" value="{SecurityElement.Escape(feed)}" /></packageSources></configuration>
            """, ct).ConfigureAwait(false);
        await BenchProcess.RunAsync("dotnet", ["tool", "install", PackageId, "--tool-path", tool, "--version", version, "--configfile", config], ct, root).ConfigureAwait(false);
        return Path.Combine(tool, "qemutestkit");
    }
}
