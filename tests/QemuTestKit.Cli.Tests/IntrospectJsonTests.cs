using System.Text.Json;
using QemuTestKit.Cli.Tests.Support;

namespace QemuTestKit.Cli.Tests;

public sealed class IntrospectJsonTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static async Task<JsonDocument> RunJsonAsync(string cache, params string[] extra)
    {
        var result = await CliRunner.RunAsync(
            ["introspect", "--qemu", CliAssertions.Qemu, "--json", "--cache-dir", cache, .. extra],
            cache,
            cancellationToken: TestContext.Current.CancellationToken);
        result.ExitCode.Should().Be(0, result.ToString());
        result.Stderr.Should().BeEmpty();
        return JsonDocument.Parse(result.Stdout);
    }

    [Fact]
    public async Task Json_has_the_catalog_fields_and_says_where_it_came_from()
    {
        var cache = _temp.File("cache");

        using var first = await RunJsonAsync(cache);
        using var second = await RunJsonAsync(cache);
        using var uncached = await RunJsonAsync(cache, "--no-cache");

        var root = first.RootElement;
        root.GetProperty("qemuVersion").GetString().Should().MatchRegex(@"^\d+\.\d+\.\d+$");
        root.GetProperty("binary").GetString().Should().StartWith("/").And.EndWith("qemu-system-x86_64");
        root.GetProperty("target").GetString().Should().Be("x86_64");
        root.GetProperty("schemaVersion").GetInt32().Should().BePositive();
        root.GetProperty("binaryIdentity").GetProperty("size").GetInt64().Should().BePositive();

        var machines = root.GetProperty("machines").EnumerateArray().ToArray();
        machines.Should().NotBeEmpty();
        machines.Select(m => m.GetProperty("name").GetString()).Should().Contain(n => n!.StartsWith("pc-q35-", StringComparison.Ordinal));
        machines.Where(m => m.TryGetProperty("alias", out var alias) && alias.GetString() == "q35").Should().ContainSingle("q35 is an alias");

        root.GetProperty("cpus").EnumerateArray().Select(c => c.GetProperty("name").GetString()).Should().Contain("qemu64");

        var devices = root.GetProperty("deviceTypes").EnumerateArray().ToArray();
        devices.Should().NotBeEmpty();
        devices.Should().OnlyContain(d => d.GetProperty("properties").ValueKind == JsonValueKind.Array);
        var e1000 = devices.Single(d => d.GetProperty("name").GetString() == "e1000");
        e1000.GetProperty("properties").EnumerateArray().Select(p => p.GetProperty("name").GetString()).Should().Contain("mac");

        root.GetProperty("unavailableTypes").ValueKind.Should().Be(JsonValueKind.Array);
        root.GetProperty("qmpCommands").EnumerateArray().Select(c => c.GetString()).Should().Contain("query-version");
        root.GetProperty("requiredCommands").ValueKind.Should().Be(JsonValueKind.Object);
        root.TryGetProperty("deviceTree", out _).Should().BeFalse("no --machine, no device tree");

        root.GetProperty("source").GetString().Should().Be("qemu", "the first run asks the binary");
        second.RootElement.GetProperty("source").GetString().Should().Be("cache", "the second run with the same cache dir reads the cache");
        uncached.RootElement.GetProperty("source").GetString().Should().Be("qemu", "--no-cache asks the binary even with a valid cache");

        second.RootElement.GetProperty("machines").GetArrayLength().Should().Be(machines.Length);
        second.RootElement.GetProperty("deviceTypes").GetArrayLength().Should().Be(devices.Length);
        second.RootElement.GetProperty("qmpSchemaHash").GetString().Should().Be(root.GetProperty("qmpSchemaHash").GetString());
    }

    [Fact]
    public async Task Json_with_a_machine_and_a_device_includes_the_device_tree()
    {
        // The cache directory comes from the environment here, not from --cache-dir.
        var cache = _temp.File("env-cache");
        var result = await CliRunner.RunAsync(
            ["introspect", "--qemu", CliAssertions.Qemu, "--json", "--machine", "q35", "--device", "e1000,id=nic0"],
            cache,
            cancellationToken: TestContext.Current.CancellationToken);

        result.ExitCode.Should().Be(0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var tree = json.RootElement.GetProperty("deviceTree");
        tree.GetProperty("machineType").GetString().Should().Be("q35");

        var buses = AllBuses(tree.GetProperty("root")).ToArray();
        var pcie = buses.Where(b => b.GetProperty("name").GetString() == "pcie.0").Should().ContainSingle().Subject;
        var nic = pcie.GetProperty("devices").EnumerateArray()
            .Where(d => d.TryGetProperty("id", out var id) && id.GetString() == "nic0")
            .Should().ContainSingle("nic0 sits on pcie.0").Subject;
        nic.GetProperty("type").GetString().Should().Be("e1000");
        nic.GetProperty("address").GetString().Should().MatchRegex("^[0-9a-f]{2}\\.[0-7]$");

        Directory.GetFiles(cache, "*.json").Should().ContainSingle("QEMUTESTKIT_CACHE_DIR chooses the cache directory");
    }

    private static IEnumerable<JsonElement> AllBuses(JsonElement bus)
    {
        yield return bus;
        foreach (var device in bus.GetProperty("devices").EnumerateArray())
        {
            foreach (var child in device.GetProperty("buses").EnumerateArray().SelectMany(AllBuses))
            {
                yield return child;
            }
        }
    }
}
