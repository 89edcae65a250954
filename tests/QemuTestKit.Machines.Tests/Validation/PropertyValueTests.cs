using System.Diagnostics;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;
using C = QemuTestKit.Machines.Validation.MachineSpecErrorCodes;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>
/// Property values judged against the real catalog's property types, and each verdict checked against the real QEMU:
/// the value the validator accepts starts QEMU, the value it refuses makes QEMU refuse the same -device.
/// </summary>
[Collection(RealQemuValidation.Name)]
public sealed class PropertyValueTests(ValidationFixture fixture)
{
    /// <summary>Device type, property, value, and the code the validator must give (null: accepted).</summary>
    public static TheoryData<string, string, string, string?> Values => new()
    {
        { "virtio-rng-pci", "max-bytes", "lots", C.PropertyValueNotOfType },
        { "virtio-rng-pci", "max-bytes", "08", C.PropertyValueNotOfType },
        { "virtio-rng-pci", "max-bytes", "", C.PropertyValueNotOfType },
        { "virtio-rng-pci", "max-bytes", "18446744073709551616", C.PropertyValueOutOfRange },
        { "virtio-rng-pci", "period", "-5", C.PropertyValueOutOfRange },
        { "virtio-rng-pci", "period", "4294967296", C.PropertyValueOutOfRange },
        { "pvpanic", "ioport", "0x10000", C.PropertyValueOutOfRange },
        { "virtio-balloon-pci", "guest-stats-polling-interval", "abc", C.PropertyValueNotOfType },
        { "virtio-rng-pci", "ioeventfd", "YES", C.PropertyValueNotOfType },
        { "virtio-rng-pci", "ioeventfd", "1", C.PropertyValueNotOfType },
        { "pcie-root-port", "mem-reserve", "2X", C.PropertyValueNotOfType },
        { "pcie-root-port", "mem-reserve", "1.5", C.PropertyValueNotOfType },
        { "pcie-root-port", "mem-reserve", "16E", C.PropertyValueOutOfRange },
        { "virtio-rng-pci", "addr", "zz", C.PropertyValueNotOfType },
        { "virtio-rng-pci", "addr", "20", C.PropertyValueOutOfRange },
        { "virtio-rng-pci", "addr", "1f.8", C.PropertyValueOutOfRange },
        { "e1000", "mac", "52:54:00:12:34:5", C.PropertyValueNotOfType },
        { "e1000", "mac", "52:54:00:12:34:zz", C.PropertyValueNotOfType },
        { "virtio-rng-pci", "disable-legacy", "Auto", C.PropertyValueNotInEnum },
        { "ivshmem-plain", "master", "maybe", C.PropertyValueNotInEnum },
        { "pcie-root-port", "x-speed", "3", C.PropertyValueNotInEnum },
        { "isa-fdc", "fdtypeA", "1.44", C.PropertyValueNotInEnum },
        { "virtio-rng-pci", "rng", "rng9", C.LinkToUnknownId },

        { "virtio-rng-pci", "max-bytes", "0x400", null },
        { "virtio-rng-pci", "max-bytes", "010", null },
        { "virtio-rng-pci", "max-bytes", "+5", null },
        { "virtio-rng-pci", "period", "4294967295", null },
        { "pvpanic", "ioport", "0x505", null },
        { "virtio-balloon-pci", "guest-stats-polling-interval", "5", null },
        { "virtio-rng-pci", "ioeventfd", "y", null },
        { "virtio-rng-pci", "ioeventfd", "no", null },
        { "virtio-rng-pci", "ioeventfd", "false", null },
        { "pcie-root-port", "mem-reserve", "64K", null },
        { "pcie-root-port", "mem-reserve", "2g", null },
        { "pcie-root-port", "mem-reserve", "1.5M", null },
        { "pcie-root-port", "mem-reserve", "0x1000", null },
        { "pcie-root-port", "mem-reserve", "0x10K", null },
        { "virtio-rng-pci", "addr", "0x6", null },
        { "virtio-rng-pci", "addr", "06.0", null },
        { "virtio-rng-pci", "addr", "1f.7", null },
        { "e1000", "mac", "52-54-00-12-34-56", null },
        { "e1000", "mac", "52:54:00:AB:cd:EF", null },
        { "virtio-rng-pci", "disable-legacy", "auto", null },
        { "pcie-root-port", "x-speed", "2_5", null },
        { "isa-fdc", "fdtypeA", "144", null },
        { "virtio-rng-pci", "rng", "", null },
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void A_value_gets_its_code_on_the_device_and_property(string type, string key, string value, string? code)
    {
        var errors = Validate(new DeviceSpec(type, new Dictionary<string, string> { [key] = value }));

        if (code is null)
        {
            errors.Should().BeEmpty(because: string.Join("\n", errors));
            return;
        }

        errors.Select(e => (e.Code, e.Field, e.Found)).Should().Equal([(code, $"Devices[0].Properties.{key}", value)], because: string.Join("\n", errors));
        var message = errors[0].Message;
        message.Should().Contain($"'{value}'").And.Contain($"property '{key}'").And.Contain($"of '{type}'").And.Contain("such as ");
        errors[0].Allowed.Should().Contain("such as ");
    }

    [Theory]
    [MemberData(nameof(Values))]
    public async Task Qemu_agrees_with_the_verdict(string type, string key, string value, string? code)
    {
        var (accepted, stderr) = await QemuAcceptsAsync($"{type},{key}={value}");

        accepted.Should().Be(code is null, because: $"the validator says {code ?? "fine"} and QEMU said: {stderr}");
    }

    [Fact]
    public void Two_wrong_values_give_two_errors_one_per_property()
    {
        var errors = Validate(new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["max-bytes"] = "lots", ["period"] = "-5" }));

        errors.Select(e => (e.Code, e.Field)).Should().Equal(
            (C.PropertyValueNotOfType, "Devices[0].Properties.max-bytes"),
            (C.PropertyValueOutOfRange, "Devices[0].Properties.period"));
        errors[0].Message.Should().Be(
            "machine 'hello': Devices[0].Properties.max-bytes 'lots' is not an integer: property 'max-bytes' (uint64) of "
            + "'virtio-rng-pci' takes an integer from 0 to 18446744073709551615 (decimal, 0x hex or 0-prefixed octal), such as 16 or 0x10");
        errors[1].Message.Should().Contain("'-5' is out of range: property 'period' (uint32)").And.Contain("from 0 to 4294967295");
    }

    [Fact]
    public void A_link_to_an_object_declared_in_extra_arguments_is_accepted_and_a_near_miss_is_suggested()
    {
        var spec = fixture.ValidSpec with
        {
            Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["rng"] = "rng0" })],
            ExtraArguments = ["-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rgn0"],
        };

        var errors = MachineSpecValidator.Validate(spec, fixture.Catalog);

        errors.Select(e => (e.Code, e.Field)).Should().Equal([(C.LinkToUnknownId, "ExtraArguments[3].rng")]);
        errors[0].Suggestions.Should().Equal("rng0");
        errors[0].Message.Should().Contain("link<rng-backend>");
    }

    [Fact]
    public void A_link_without_declared_objects_names_an_object_type_to_declare()
    {
        var errors = Validate(new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["rng"] = "rng0" }));

        errors.Should().ContainSingle().Which.Message.Should().Contain("such as rng0, declared with '-object rng-builtin,id=rng0,...' in ExtraArguments");
    }

    [Fact]
    public void A_nic_mac_is_judged_on_the_nic()
    {
        var spec = fixture.ValidSpec with { Nics = [new NicSpec("e1000", Mac: "52:54:00:12:34")] };

        var errors = MachineSpecValidator.Validate(spec, fixture.Catalog);

        errors.Select(e => (e.Code, e.Field)).Should().Equal([(C.PropertyValueNotOfType, "Nics[0].Mac")]);
        errors[0].Message.Should().Contain("52:54:00:12:34:56");
    }

    [Fact]
    public void Json_device_values_are_judged_by_their_text()
    {
        var spec = fixture.ValidSpec with { ExtraArguments = ["-device", """{"driver":"virtio-rng-pci","period":-5,"max-bytes":1024,"ioeventfd":false}"""] };

        var errors = MachineSpecValidator.Validate(spec, fixture.Catalog);

        errors.Select(e => (e.Code, e.Field)).Should().Equal([(C.PropertyValueOutOfRange, "ExtraArguments[1].period")]);
    }

    [Fact]
    public void A_value_of_a_hundred_thousand_digits_is_out_of_range_at_once()
    {
        var clock = Stopwatch.StartNew();

        var errors = Validate(new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["period"] = new string('9', 100_000) }));

        errors.Select(e => e.Code).Should().Equal(C.PropertyValueOutOfRange);
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(1));
    }

    [Theory]
    [InlineData("device property value not of its type")]
    [InlineData("device property value out of range")]
    [InlineData("device property value not one of its values")]
    [InlineData("link to an undeclared object")]
    public void The_docs_show_the_message_the_validator_gives(string mistake)
    {
        var error = Mistakes.All[mistake].Validate(fixture).Single();

        ErrorDocsTests.Text.Should().Contain($"\n{error.Message}\n", $"the example of {error.Code} in docs/errors.md is a real message");
    }

    private IReadOnlyList<MachineSpecError> Validate(DeviceSpec device) =>
        MachineSpecValidator.Validate(fixture.ValidSpec with { Devices = [device] }, fixture.Catalog);

    // QEMU reads the -device options before the monitor, so "quit" on the monitor ends a machine whose devices it took.
    private static async Task<(bool Accepted, string Stderr)> QemuAcceptsAsync(string device)
    {
        var start = new ProcessStartInfo(ValidationFixture.Binary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "-M", "q35", "-nodefaults", "-display", "none", "-S", "-monitor", "stdio", "-device", device })
        {
            start.ArgumentList.Add(argument);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        using var qemu = Process.Start(start) ?? throw new InvalidOperationException($"could not start {ValidationFixture.Binary}");
        try
        {
            var stdout = qemu.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = qemu.StandardError.ReadToEndAsync(timeout.Token);
            try
            {
                await qemu.StandardInput.WriteLineAsync("quit");
                qemu.StandardInput.Close();
            }
            catch (IOException)
            {
                // QEMU refused the device and exited before reading the monitor.
            }

            await qemu.WaitForExitAsync(timeout.Token);
            await stdout;
            return (qemu.ExitCode == 0, await stderr);
        }
        finally
        {
            if (!qemu.HasExited)
            {
                qemu.Kill();
            }
        }
    }
}
